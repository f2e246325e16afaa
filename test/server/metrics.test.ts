// RelayMetrics' labels: what a client chooses (the Operation of a batch item)
// never makes more time series than the KMIP enumerations have values.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RelayMetrics } from "../../src/server/metrics.js";
import { Operation, ResultReason } from "../../src/ttlv/enums.js";

test("Operation values outside the KMIP enumeration share one \"unknown\" label", async () => {
  const metrics = new RelayMetrics();
  metrics.observeItem(Operation.Sign, undefined, 0.001);
  // Values a hostile client may put in its batch items: extensions, gaps, anything.
  for (let value = 0x100; value < 0x100 + 500; value++) metrics.observeItem(value, ResultReason.OperationNotSupported, 0.001);
  metrics.observeItem(0x8000_0001, ResultReason.OperationNotSupported, 0.001);
  const counted = (await metrics.registry.getSingleMetric("kmip2pkcs11_requests_total")!.get()).values;
  assert.deepEqual(
    counted.map(({ labels, value }) => [labels.operation, labels.result, value]),
    [
      ["Sign", "success", 1],
      ["unknown", "OperationNotSupported", 501],
    ],
  );
  const durations = (await metrics.registry.getSingleMetric("kmip2pkcs11_request_duration_seconds")!.get()).values;
  assert.deepEqual(new Set(durations.map(({ labels }) => labels.operation)), new Set(["Sign", "unknown"]));
});
