/*
 * A PKCS#11 module that bends the standard the way some vendor modules do,
 * for the quirk tests. It forwards every call to SoftHSM (the path in
 * QUIRKY_PKCS11_TARGET, default /usr/lib/softhsm/libsofthsm2.so) and, when
 * these environment variables are set:
 *
 *   QUIRKY_PKCS11_INIT_ARGS=<string>   C_Initialize answers CKR_ARGUMENTS_BAD
 *       unless CK_C_INITIALIZE_ARGS.pReserved points to exactly <string>
 *       (NSS and some vendor modules read their settings there). SoftHSM
 *       itself gets the arguments with pReserved NULL, as the spec wants.
 *   QUIRKY_PKCS11_REFUSE_TEMPLATE=<hex CKA>[,<hex CKA>...]   C_GenerateKeyPair
 *       answers CKR_DEVICE_ERROR when either template holds one of those
 *       attributes (a module that says "device error" for "attribute I do
 *       not like").
 *   QUIRKY_PKCS11_FAIL_READ=<hex CKA>   C_GetAttributeValue answers
 *       CKR_DEVICE_ERROR whenever the template asks for that attribute.
 *   QUIRKY_PKCS11_INIT_DELAY_MS=<n>   C_Initialize takes n ms more, as a
 *       network HSM's module that connects to its appliances at start-up.
 *   QUIRKY_PKCS11_LACK=<hex CKA>   C_GetAttributeValue reports that attribute
 *       as CK_UNAVAILABLE_INFORMATION with CKR_ATTRIBUTE_TYPE_INVALID, as a
 *       module that does not implement it (PKCS#11 v2.40 section 5.7).
 *
 * The loading and forwarding are shim.c's (test/fixtures/pkcs11-shim).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shim.h"

/* PKCS#11 v2.40 section 3.6: CK_C_INITIALIZE_ARGS. */
typedef struct {
  void *CreateMutex, *DestroyMutex, *LockMutex, *UnlockMutex;
  CK_ULONG flags;
  void *pReserved;
} CK_C_INITIALIZE_ARGS;

#define CKR_ARGUMENTS_BAD 0x7UL
#define CKR_ATTRIBUTE_TYPE_INVALID 0x12UL
#define CKR_DEVICE_ERROR 0x30UL
#define CK_UNAVAILABLE_INFORMATION (~0UL)

typedef CK_RV (*initialize_fn)(void *);
typedef CK_RV (*get_attribute_value_fn)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_ATTRIBUTE *, CK_ULONG);
typedef CK_RV (*generate_key_pair_fn)(CK_SESSION_HANDLE, void *, CK_ATTRIBUTE *, CK_ULONG, CK_ATTRIBUTE *, CK_ULONG,
                                      CK_OBJECT_HANDLE *, CK_OBJECT_HANDLE *);

const char shim_name[] = "quirky-pkcs11";
const char shim_target_env[] = "QUIRKY_PKCS11_TARGET";

/* The attribute type an environment variable names, or -1 when unset. */
static long attribute_env(const char *name) {
  const char *value = getenv(name);
  return value == NULL ? -1 : (long)strtoul(value, NULL, 16);
}

static int holds(const CK_ATTRIBUTE *template, CK_ULONG count, long type) {
  for (CK_ULONG i = 0; type >= 0 && i < count; i++) {
    if (template[i].type == (CK_ULONG)type) return 1;
  }
  return 0;
}

/* Whether the template holds any of the attributes a comma-separated list of hex CKA values names. */
static int holds_any(const CK_ATTRIBUTE *template, CK_ULONG count, const char *list) {
  while (list != NULL && *list != '\0') {
    char *end;
    unsigned long type = strtoul(list, &end, 16);
    if (end == list) return 0;
    if (holds(template, count, (long)type)) return 1;
    list = *end == ',' ? end + 1 : end;
  }
  return 0;
}

static CK_RV quirky_initialize(void *init_args) {
  const char *delay = getenv("QUIRKY_PKCS11_INIT_DELAY_MS");
  if (delay != NULL) {
    long ms = strtol(delay, NULL, 10);
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
  }
  const char *expected = getenv("QUIRKY_PKCS11_INIT_ARGS");
  CK_C_INITIALIZE_ARGS *args = init_args;
  if (expected != NULL && (args == NULL || args->pReserved == NULL || strcmp(args->pReserved, expected) != 0)) {
    fprintf(stderr, "quirky-pkcs11: C_Initialize pReserved is not \"%s\"\n", expected);
    return CKR_ARGUMENTS_BAD;
  }
  if (args == NULL) return ((initialize_fn)shim_target->functions[C_INITIALIZE])(NULL);
  CK_C_INITIALIZE_ARGS copy = *args;
  copy.pReserved = NULL;
  return ((initialize_fn)shim_target->functions[C_INITIALIZE])(&copy);
}

static CK_RV quirky_get_attribute_value(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *template, CK_ULONG count) {
  if (holds(template, count, attribute_env("QUIRKY_PKCS11_FAIL_READ"))) return CKR_DEVICE_ERROR;
  CK_RV rv = ((get_attribute_value_fn)shim_target->functions[C_GET_ATTRIBUTE_VALUE])(session, object, template, count);
  long lacking = attribute_env("QUIRKY_PKCS11_LACK");
  if (!holds(template, count, lacking)) return rv;
  for (CK_ULONG i = 0; i < count; i++) {
    if (template[i].type == (CK_ULONG)lacking) template[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
  }
  return rv == CKR_OK ? CKR_ATTRIBUTE_TYPE_INVALID : rv;
}

static CK_RV quirky_generate_key_pair(CK_SESSION_HANDLE session, void *mechanism, CK_ATTRIBUTE *public_template, CK_ULONG public_count,
                                      CK_ATTRIBUTE *private_template, CK_ULONG private_count, CK_OBJECT_HANDLE *public_key,
                                      CK_OBJECT_HANDLE *private_key) {
  const char *refused = getenv("QUIRKY_PKCS11_REFUSE_TEMPLATE");
  if (holds_any(public_template, public_count, refused) || holds_any(private_template, private_count, refused)) return CKR_DEVICE_ERROR;
  return ((generate_key_pair_fn)shim_target->functions[C_GENERATE_KEY_PAIR])(session, mechanism, public_template, public_count, private_template,
                                                                        private_count, public_key, private_key);
}

void shim_override(function_list *list) {
  list->functions[C_INITIALIZE] = (void *)quirky_initialize;
  list->functions[C_GET_ATTRIBUTE_VALUE] = (void *)quirky_get_attribute_value;
  list->functions[C_GENERATE_KEY_PAIR] = (void *)quirky_generate_key_pair;
}
