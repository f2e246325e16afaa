// The KMIP lifecycle kept in the token (never in the relay, so that every
// relay instance and every restart agrees). See README "Key lifecycle".
import type { KeyUpdate } from "../hsm/backend.js";
import type { OperationContext } from "./operation.js";

/** Today as a PKCS#11 CK_DATE ("YYYYMMDD", UTC). */
export function today(now = new Date()): string {
  return now.toISOString().slice(0, 10).replace(/-/g, "");
}

/** Sets lifecycle attributes on a key object. */
export async function recordDate(context: OperationContext, id: string, update: KeyUpdate): Promise<void> {
  await context.backend.updateKey(context.slot.slotId, id, update);
}
