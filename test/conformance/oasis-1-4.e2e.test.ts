// The OASIS KMIP Profiles test cases of KMIP 1.4 against the relay on SoftHSM
// (see suite.ts and README.md in this folder).
import { conformanceSuite } from "./suite.js";

conformanceSuite("1.4");
