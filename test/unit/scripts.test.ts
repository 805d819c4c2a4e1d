import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import * as admin from "../../src/admin/scripts.generated.js";
import * as fair from "../../src/fair/scripts.generated.js";
import * as fencing from "../../src/fencing/scripts.generated.js";
import * as mutex from "../../src/mutex/scripts.generated.js";
import * as rwlock from "../../src/rwlock/scripts.generated.js";
import * as semaphore from "../../src/semaphore/scripts.generated.js";

/** Every script of the library and the command. */
const scripts = [mutex, fair, fencing, rwlock, semaphore, admin].flatMap((module) => Object.values(module));

/**
 * The .lua file with its `--- @include "…"` lines replaced by the files they name, each at most once per script
 * (a later include of a file already pasted in is dropped), as scripts/gen-lua.mjs does.
 */
function expanded(file: URL, pasted = new Set<string>([file.href])): string {
  return readFileSync(file, "utf8").replace(/^--- @include "([^"]+)"\s*$/gm, (_, rel: string) => {
    const included = new URL(rel, file);
    if (pasted.has(included.href)) return "";
    pasted.add(included.href);
    return expanded(included, pasted).trimEnd();
  });
}

describe("generated Lua scripts", () => {
  for (const script of scripts) {
    it(`${script.name}: SHA1 and key count match the .lua file`, () => {
      const source = expanded(new URL(`../../src/${script.name}.lua`, import.meta.url));
      assert.equal(script.source, source, "run `npm run gen` after editing a .lua file");
      assert.equal(script.sha1, createHash("sha1").update(source).digest("hex"));
      const highest = Math.max(0, ...[...source.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1])));
      assert.equal(script.keys, highest);
    });
  }

  it("splices no key or value into Lua source: every script reads them from KEYS/ARGV", () => {
    for (const script of scripts) {
      const code = script.source.replace(/--\[\[[\s\S]*?\]\]/, "");
      assert.doesNotMatch(code, /quorumlock:/, `${script.name} names a key literally`);
    }
  });
});
