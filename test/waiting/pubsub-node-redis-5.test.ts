import { nodeRedisAdapter } from "../support/adapters.js";
import { pubsubSuite } from "./pubsub.suite.js";

pubsubSuite(nodeRedisAdapter, 5);
