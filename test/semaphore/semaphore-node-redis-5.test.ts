import { nodeRedisAdapter } from "../support/adapters.js";
import { semaphoreSuite } from "./semaphore.suite.js";

semaphoreSuite(nodeRedisAdapter, 5);
