export { reapOnExit } from "../../src/cli/reaper.js";
