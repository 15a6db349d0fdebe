"use strict";
// The local Cosmos-protocol server of the tests: @vercel/cosmosdb-server with one fix. A point read
// of a document that does not exist fails there with HTTP 500 (the handler reads a property of the
// missing document); Cosmos DB answers 404 NotFound, which the store relies on (put_alarms reads a
// record it has not written yet). Everything else is the package as published.
const readDocument = require("@vercel/cosmosdb-server/lib/handler/read-document");
const partition = require("@vercel/cosmosdb-server/lib/utils/get-partition-from-header");

const original = readDocument.default;
readDocument.default = (account, req, res, params) => {
  const collection = account.database(params.dbId).collection(params.collId);
  if (collection.read()) {
    const key = partition.parsePartitionKey(partition.default(req), params.docId);
    if (!collection.document(params.docId, key).read()) {
      res.statusCode = 404;
      return { code: "NotFound", message: "Entity with the specified id does not exist in the system.," };
    }
  }
  return original(account, req, res, params);
};

require("@vercel/cosmosdb-server/lib/cli");
