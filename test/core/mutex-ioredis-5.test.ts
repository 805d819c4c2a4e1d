import { ioredisAdapter } from "../support/adapters.js";
import { mutexSuite } from "./mutex.suite.js";

mutexSuite(ioredisAdapter, 5);
