import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import * as mutex from "../../src/mutex/scripts.generated.js";

describe("generated Lua scripts", () => {
  for (const script of Object.values(mutex)) {
    it(`${script.name}: SHA1 and key count match the .lua file`, () => {
      const file = new URL(`../../src/${script.name}.lua`, import.meta.url);
      const source = readFileSync(file, "utf8");
      assert.equal(script.source, source, "run `npm run gen` after editing a .lua file");
      assert.equal(script.sha1, createHash("sha1").update(source).digest("hex"));
      const highest = Math.max(0, ...[...source.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1])));
      assert.equal(script.keys, highest);
    });
  }

  it("splices no key or value into Lua source: every script reads them from KEYS/ARGV", () => {
    for (const script of Object.values(mutex)) {
      const code = script.source.replace(/--\[\[[\s\S]*?\]\]/, "");
      assert.doesNotMatch(code, /quorumlock:/, `${script.name} names a key literally`);
    }
  });
});
