import { ioredisAdapter } from "../support/adapters.js";
import { semaphoreSuite } from "./semaphore.suite.js";

semaphoreSuite(ioredisAdapter, 5);
