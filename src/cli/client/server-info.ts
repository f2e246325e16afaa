// `client discover` and `client query`: what the server says about itself.
import { QueryFunction } from "../../ttlv/enums.js";
import { Tag } from "../../ttlv/tags.js";
import { readable } from "./arguments.js";
import { onOneConnection, type ClientCommand } from "./command.js";

export const discoverCommand: ClientCommand = {
  name: "discover",
  usage: "  discover                 The protocol versions the server speaks\n",
  ids: 0,
  options: [],
  prepare: (_id, _values, io) =>
    onOneConnection(async (client) => {
      const { protocolVersions } = await client.discoverVersions();
      io.stdout.write(`Protocol versions: ${protocolVersions.map((v) => `${v.major}.${v.minor}`).join(", ")}\n`);
    }),
};

export const queryCommand: ClientCommand = {
  name: "query",
  usage: "  query                    The server's operations, object types and identity\n",
  ids: 0,
  options: [],
  prepare: (_id, _values, io) =>
    onOneConnection(async (client) => {
      const answer = await client.query({
        queryFunctions: [QueryFunction.QueryOperations, QueryFunction.QueryObjects, QueryFunction.QueryServerInformation],
      });
      io.stdout.write(
        `Server:       ${answer.vendorIdentification ?? "(not given)"}\n` +
          `Operations:   ${answer.operations.map((o) => readable(Tag.Operation, o)).join(", ")}\n` +
          `Object types: ${answer.objectTypes.map((o) => readable(Tag.ObjectType, o)).join(", ")}\n`,
      );
    }),
};
