import { db } from "ponder:api";
import schema from "ponder:schema";
import { Hono } from "hono";
import { graphql } from "ponder";

// Ponder's GraphQL over the indexed tables, for benchmarks/indexer_ponder.py's query comparison.
const app = new Hono();
app.use("/graphql", graphql({ db, schema }));
export default app;
