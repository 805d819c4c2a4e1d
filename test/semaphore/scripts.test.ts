import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import * as semaphore from "../../src/semaphore/scripts.generated.js";

/** The .lua file with its `--- @include "…"` lines replaced by the files they name, as scripts/gen-lua.mjs does. */
function expanded(file: URL): string {
  return readFileSync(file, "utf8").replace(/^--- @include "([^"]+)"\s*$/gm, (_, rel: string) =>
    expanded(new URL(rel, file)).trimEnd(),
  );
}

describe("the semaphore's generated Lua scripts", () => {
  for (const script of Object.values(semaphore)) {
    it(`${script.name}: SHA1 and key count match the .lua file, and no key is spliced into the source`, () => {
      const source = expanded(new URL(`../../src/${script.name}.lua`, import.meta.url));
      assert.equal(script.source, source, "run `npm run gen` after editing a .lua file");
      assert.equal(script.sha1, createHash("sha1").update(source).digest("hex"));
      const highest = Math.max(0, ...[...source.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1])));
      assert.equal(script.keys, highest);
      assert.doesNotMatch(script.source.replace(/--\[\[[\s\S]*?\]\]/, ""), /quorumlock:/);
    });
  }
});
