// PKCS#11 mechanism, key type and MGF constants the relay uses, from PKCS#11
// v2.40 Current Mechanisms (section 2) and pkcs11t.h; the EdDSA values are
// from PKCS#11 v3.0 (section 2.3.14 / 2.3.5), which pkcs11js does not define.
// This file imports nothing from pkcs11js: the operations layer builds
// SignMechanism values from these numbers without depending on the binding.

/** RSA key pair generation (0 is a real value, not "unset"). */
export const CKM_RSA_PKCS_KEY_PAIR_GEN = 0x0;
/** Raw PKCS #1 v1.5 RSA: signs a DigestInfo built by the caller. */
export const CKM_RSA_PKCS = 0x1;
/** RSA-PSS on a digest computed by the caller; takes CK_RSA_PKCS_PSS_PARAMS. */
export const CKM_RSA_PKCS_PSS = 0xd;

/** Hash-and-sign mechanisms: only named in CKA_ALLOWED_MECHANISMS (import-templates.ts); the relay signs with the raw ones. */
export const CKM_SHA1_RSA_PKCS = 0x6;
export const CKM_SHA1_RSA_PKCS_PSS = 0xe;
export const CKM_SHA256_RSA_PKCS = 0x40;
export const CKM_SHA384_RSA_PKCS = 0x41;
export const CKM_SHA512_RSA_PKCS = 0x42;
export const CKM_SHA256_RSA_PKCS_PSS = 0x43;
export const CKM_SHA384_RSA_PKCS_PSS = 0x44;
export const CKM_SHA512_RSA_PKCS_PSS = 0x45;
export const CKM_ECDSA_SHA1 = 0x1042;
export const CKM_ECDSA_SHA256 = 0x1044;
export const CKM_ECDSA_SHA384 = 0x1045;
export const CKM_ECDSA_SHA512 = 0x1046;

export const CKM_SHA_1 = 0x220;
export const CKM_SHA256 = 0x250;
export const CKM_SHA384 = 0x260;
export const CKM_SHA512 = 0x270;

export const CKM_EC_KEY_PAIR_GEN = 0x1040;
/** ECDSA on a digest computed by the caller; the signature is r || s. */
export const CKM_ECDSA = 0x1041;
/** PKCS#11 v3.0: Edwards-curve key pair generation. */
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
/** PKCS#11 v3.0: pure EdDSA over the whole message. */
export const CKM_EDDSA = 0x1057;

/** MGF1 variants for CK_RSA_PKCS_PSS_PARAMS.mgf. */
export const CKG_MGF1_SHA1 = 0x1;
export const CKG_MGF1_SHA256 = 0x2;
export const CKG_MGF1_SHA384 = 0x3;
export const CKG_MGF1_SHA512 = 0x4;

/** Key types (CKA_KEY_TYPE). */
export const CKK_RSA = 0x0;
export const CKK_EC = 0x3;
/** PKCS#11 v3.0. */
export const CKK_EC_EDWARDS = 0x40;
/** Secret key types: AES, generic secret (HMAC keys of any hash), and the per-hash HMAC types some tools make. */
export const CKK_GENERIC_SECRET = 0x10;
export const CKK_AES = 0x1f;
/** Triple DES: three keys (168 bits of key, 24 bytes with parity) or two (112 bits, 16 bytes); the CKM_DES3_* mechanisms take both. */
export const CKK_DES3 = 0x15;
export const CKK_DES2 = 0x14;
export const CKK_SHA_1_HMAC = 0x28;
export const CKK_SHA256_HMAC = 0x2b;
export const CKK_SHA384_HMAC = 0x2c;
export const CKK_SHA512_HMAC = 0x2d;
export const CKK_SHA224_HMAC = 0x2e;
