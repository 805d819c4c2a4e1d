// What the command says when it is used wrongly, and its help. No Redis needed: every case fails before
// connecting (and QUORUMLOCK_NODES points nowhere, in case one did not).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cli } from "./cli.js";

/** A few processes at a time: each one starts tsx, and the machine may have two cores. */
async function inBatches(jobs: (() => Promise<void>)[], size = 4): Promise<void> {
  for (let i = 0; i < jobs.length; i += size) await Promise.all(jobs.slice(i, i + size).map((job) => job()));
}

const T = { timeout: 60_000 };

describe("quorumlock usage", () => {
  it(
    "bad flags, durations and arguments: exit 64, one line naming the flag and what is allowed",
    T,
    async () => {
      const cases: [string[], RegExp][] = [
        [
          ["run", "r", "--ttl", "5q", "--", "true"],
          /--ttl must be a duration such as 500ms, 30s or 5m \(from 10ms to 24\.8 days\); got "5q"/,
        ],
        [["run", "r", "--ttl", "5ms", "--", "true"], /--ttl must be a duration .*\(from 10ms/],
        [["run", "r", "--wait", "soon", "--", "true"], /--wait must be a duration .*got "soon"/],
        [["run", "r", "--wait=-1s", "--", "true"], /--wait must be a duration/],
        [["run", "r", "--wait", "1.5ms", "--", "true"], /--wait must be a duration/],
        [
          ["run", "r", "--grace", "30d", "--", "true"],
          /--grace must be a duration .*\(from 0ms to 24\.8 days\)/,
        ],
        [
          ["run", "r", "--ttl", "10s", "--max-hold", "5s", "--", "true"],
          /--max-hold must be a duration .*\(from 10s/,
        ],
        [["run", "r", "--wait", "--", "true"], /--wait needs a value/],
        [
          ["run", "r", "--fair", "--nodes", "redis://127.0.0.1:1,redis://127.0.0.1:2", "--", "true"],
          /--fair works with one node only \(got 2\)/,
        ],
        [
          ["run", "r", "--bogus", "--", "true"],
          /unknown option --bogus; known: --wait, --ttl, --max-hold, --grace, --quiet, --fair, --shared, --limit, --foreground, --show-token, --nodes, --help/,
        ],
        [["run", "r", "--quiet=yes", "--", "true"], /--quiet takes no value/],
        [["run", "r", "--limit=-1", "--", "true"], /--limit must be a whole number from 1 to 2147483647/],
        [["run", "r"], /missing the command to run after --/],
        [["run", "r", "echo", "--", "true"], /unexpected "echo": put the command after --/],
        [["run", "--", "true"], /missing <resource>/],
        [
          ["run", "r", "--nodes", "localhost:6379", "--", "true"],
          /--nodes: "localhost:6379" is not a redis:\/\/ or rediss:\/\/ URL/,
        ],
        [
          ["run", "r", "--nodes", "redis://a:1,redis://a:1", "--", "true"],
          /--nodes: redis:\/\/a:1 is listed twice/,
        ],
        [["run", "r", "--nodes", ",", "--", "true"], /--nodes must list at least one redis:\/\/ URL/],
        [["status"], /missing <resource>/],
        [["status", "a", "b"], /unexpected argument "b"/],
        [["status", "x".repeat(1025)], /<resource> must be at most 1024 characters/],
        [["break", "r"], /add --yes if you mean it/],
        [["release", "r"], /missing --token/],
        [["demo", "--processes", "0"], /--processes must be a whole number from 1 to 16; got "0"/],
        [["demo", "--workers", "2.5"], /--workers must be a whole number from 1 to 64/],
        [["demo", "--duration", "soon"], /--duration must be a duration .*\(from 1s to 10m\)/],
        [["frobnicate"], /unknown command "frobnicate"; commands: run, status, release, break, demo/],
      ];
      await inBatches(
        cases.map(([args, expected]) => async () => {
          const ran = await cli(args);
          const label = args.join(" ").slice(0, 80);
          assert.equal(ran.code, 64, `${label}: ${ran.err}`);
          assert.match(ran.err, /^quorumlock: .* \(see "quorumlock (\w+ )?--help"\)\n$/, label);
          assert.match(ran.err, expected, label);
          assert.equal(ran.out, "", label);
        }),
      );
    },
  );

  it("with no arguments: the usage on stderr, exit 64", T, async () => {
    const ran = await cli([]);
    assert.equal(ran.code, 64);
    assert.match(ran.err, /^Usage: quorumlock <command>/);
  });

  it("--help on every command, with examples and exit codes; --version", T, async () => {
    const top = await cli(["--help"]);
    assert.equal(top.code, 0);
    assert.match(top.out, /Commands:\n {2}run .*\n {2}status .*\n {2}release .*\n {2}break .*\n {2}demo /);
    for (const command of ["run", "status", "release", "break", "demo"]) {
      for (const args of [
        [command, "--help"],
        [command, "-h"],
        ["help", command],
      ]) {
        const ran = await cli(args);
        assert.equal(ran.code, 0, args.join(" "));
        assert.match(ran.out, new RegExp(`^Usage: quorumlock ${command} `), args.join(" "));
        assert.match(ran.out, /\nExamples?:\n {2}quorumlock /, args.join(" "));
        assert.match(ran.out, /\nExit codes: /, args.join(" "));
      }
    }
    const version = await cli(["--version"]);
    assert.match(version.out, /^\d+\.\d+\.\d+/);
  });
});
