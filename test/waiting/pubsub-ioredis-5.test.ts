import { ioredisAdapter } from "../support/adapters.js";
import { pubsubSuite } from "./pubsub.suite.js";

pubsubSuite(ioredisAdapter, 5);
