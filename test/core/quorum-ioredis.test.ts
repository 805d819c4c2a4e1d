import { ioredisAdapter } from "../support/adapters.js";
import { quorumSuite } from "./quorum.suite.js";

quorumSuite(ioredisAdapter);
