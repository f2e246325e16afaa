// What every client command is. A command is an object in the table of
// client-command.ts: its name, its usage lines, what it takes, and prepare(),
// which reads and checks the arguments before anything is sent.
import { KmipClient, type KmipClientOptions } from "../../client/kmip-client.js";
import type { CliIo } from "../io.js";
import type { CommandOption, Values } from "./options.js";

/** A command ready to run: its arguments read and checked. It opens the connection(s) it needs. */
export type Prepared = (options: KmipClientOptions) => Promise<void>;

export interface ClientCommand {
  readonly name: string;
  /** Its lines of the usage text, indented as the text is. */
  readonly usage: string;
  /** Key ids it takes. */
  readonly ids: 0 | 1;
  readonly options: readonly CommandOption[];
  /**
   * Checks the arguments (a UsageError names the mistake) before connecting,
   * so that a mistake costs no round trip. `id` is the key id when it takes one.
   */
  prepare(id: string, values: Values, io: CliIo): Prepared | Promise<Prepared>;
  /**
   * What to do about a KMIP Result Reason this command may meet, beyond the
   * ones every command shares (errors.ts); only where the hint fits every
   * failure of that reason.
   */
  readonly fixes?: ReadonlyMap<number, string>;
}

/** A command on one connection, closed when it is done. */
export function onOneConnection(body: (client: KmipClient) => Promise<void>): Prepared {
  return async (options) => {
    const client = await KmipClient.connect(options);
    try {
      await body(client);
    } finally {
      await client.close();
    }
  };
}
