import { nodeRedisAdapter } from "../support/adapters.js";
import { readWriteSuite } from "./rwlock.suite.js";

readWriteSuite(nodeRedisAdapter, 5);
