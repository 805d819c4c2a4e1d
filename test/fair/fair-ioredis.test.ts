import { ioredisAdapter } from "../support/adapters.js";
import { fairSuite } from "./fair.suite.js";

fairSuite(ioredisAdapter);
