// Get with a Key Wrapping Specification (KMIP 1.x 2.1.6): a symmetric key
// leaves the token encrypted by another key of the same token, wrapped
// inside the HSM with C_WrapKey (src/hsm/wrap.ts), answered as a wrapped Key
// Block (2.1.3: Key Value a Byte String, with Key Wrapping Data, 2.1.5).
// README "Key export".
//
// What is served: Wrapping Method Encrypt; Encryption Key Information naming
// an AES key of the token with the Wrap Key usage, its Cryptographic
// Parameters' Block Cipher Mode NIST Key Wrap (RFC 3394, the default when
// the key's length allows it) or AES Key Wrap Padding (RFC 5649); Encoding
// Option No Encoding: the HSM wraps the key's value itself, so the TTLV
// encoding of the Key Value (the default from KMIP 1.1) cannot be wrapped.
// MAC/Signature wrapping and wrapped attributes are refused.
import type { WrapMechanism } from "../hsm/crypto-types.js";
import type { KeyDescription } from "../hsm/key-types.js";
import { KmipError } from "../kmip/errors.js";
import type { KeyBlock } from "../kmip/objects.js";
import type { KeyWrappingSpecification } from "../kmip/payloads/get.js";
import * as ttlv from "../ttlv/build.js";
import { BlockCipherMode, EncodingOption, KeyFormatType, ResultReason, WrappingMethod } from "../ttlv/enums.js";
import { Tag } from "../ttlv/tags.js";
import type { OperationContext } from "./operation.js";

const notSupported = (message: string) => new KmipError(ResultReason.FeatureNotSupported, message);

/** The C_WrapKey mechanism a Block Cipher Mode names; without one, KW when the value allows it (a multiple of 8 bytes, at least 16), else KWP. */
function mechanismOf(mode: number | undefined, key: KeyDescription): { mechanism: WrapMechanism; mode: number } {
  switch (mode) {
    case BlockCipherMode.NISTKeyWrap:
      return { mechanism: "AES-KEY-WRAP", mode };
    case BlockCipherMode.AESKeyWrapPadding:
      return { mechanism: "AES-KEY-WRAP-PAD", mode };
    case undefined:
      return key.bits % 64 === 0 && key.bits >= 128 ? { mechanism: "AES-KEY-WRAP", mode: BlockCipherMode.NISTKeyWrap } : { mechanism: "AES-KEY-WRAP-PAD", mode: BlockCipherMode.AESKeyWrapPadding };
    default:
      throw notSupported(`Block Cipher Mode ${mode} cannot wrap here: NIST Key Wrap (RFC 3394) or AES Key Wrap Padding (RFC 5649)`);
  }
}

/** The wrapped Key Block of `key` (a symmetric key of the token) as `spec` asks, or a KmipError saying what cannot be done. */
export async function wrappedKeyBlock(context: OperationContext, key: KeyDescription, spec: KeyWrappingSpecification, format: number, algorithm: number | undefined): Promise<KeyBlock> {
  if (spec.wrappingMethod !== WrappingMethod.Encrypt) throw notSupported(`Wrapping Method ${spec.wrappingMethod} is not supported: Encrypt only`);
  if (spec.macSignatureKeyInformation !== undefined) throw notSupported("MAC/Signature Key Information is not supported: keys are wrapped by encryption only");
  if (spec.attributeNames.length > 0) throw notSupported("Attribute Names in a Key Wrapping Specification are not supported: the HSM wraps the key's value alone");
  if (spec.encodingOption !== EncodingOption.NoEncoding) {
    throw new KmipError(
      ResultReason.EncodingOptionError,
      "the HSM wraps the key's value itself (C_WrapKey): ask for Encoding Option No Encoding; a TTLV-encoded Key Value (the default) cannot be wrapped without the relay seeing the key",
    );
  }
  const info = spec.encryptionKeyInformation;
  if (info === undefined) throw new KmipError(ResultReason.MissingData, "the Key Wrapping Specification names no Encryption Key Information (the wrapping key's Unique Identifier)");
  if (format !== KeyFormatType.Raw) throw new KmipError(ResultReason.KeyFormatTypeNotSupported, `a wrapped symmetric key is Raw, not Key Format Type ${format}`);
  const { mechanism, mode } = mechanismOf(info.cryptographicParameters?.blockCipherMode, key);
  const wrapped = await context.backend.wrapKey(context.slot.slotId, key.id, info.uniqueIdentifier, mechanism);
  const keyWrappingData = ttlv.structure(Tag.KeyWrappingData, [
    ttlv.enumeration(Tag.WrappingMethod, WrappingMethod.Encrypt),
    ttlv.structure(Tag.EncryptionKeyInformation, [
      ttlv.textString(Tag.UniqueIdentifier, info.uniqueIdentifier),
      ttlv.structure(Tag.CryptographicParameters, [ttlv.enumeration(Tag.BlockCipherMode, mode)]),
    ]),
    ttlv.enumeration(Tag.EncodingOption, EncodingOption.NoEncoding),
  ]);
  return {
    keyFormatType: KeyFormatType.Raw,
    keyValue: wrapped,
    ...(algorithm === undefined ? {} : { cryptographicAlgorithm: algorithm }),
    cryptographicLength: key.bits,
    keyWrappingData,
  };
}
