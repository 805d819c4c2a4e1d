import { ioredisAdapter } from "../support/adapters.js";
import { readWriteSuite } from "./rwlock.suite.js";

readWriteSuite(ioredisAdapter, 5);
