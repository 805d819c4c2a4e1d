import { nodeRedisAdapter } from "../support/adapters.js";
import { mutexSuite } from "./mutex.suite.js";

mutexSuite(nodeRedisAdapter, 1);
