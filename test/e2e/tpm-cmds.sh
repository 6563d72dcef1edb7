# Raw TPM command bytes (hex) the scenarios send through the guest's
# /dev/tpm0, and helpers to pick answers apart.  Sourced by dom0-scenarios.sh.
# TPM 1.2 (TCG TPM Main Part 3): tag 00c1 TPM_TAG_RQU_COMMAND, u32 size, u32 ordinal.
# The NV commands run unauthenticated: a fresh TPM 1.2 has nvLocked FALSE, in
# which case the TPM ignores authorization (checked against swtpm 0.7.1).

# TPM_GetRandom(8)
T12_GETRANDOM=00c10000000e0000004600000008
# TPM_PCRRead(16): the debug PCR, all zeros after Startup(CLEAR)
T12_PCRREAD16=00c10000000e0000001500000010
# TPM_Extend(16, 20 bytes of 0x11)
T12_EXTEND16=00c10000002200000014000000101111111111111111111111111111111111111111
# NV index 0x00011000, 16 bytes, TPM_NV_PER_OWNERWRITE, no PCR binding
E2E_NV_INDEX=00011000
Z20=0000000000000000000000000000000000000000
T12_PCRINFO=00030000001f$Z20   # sizeOfSelect 3, no PCRs, all localities, digest 0
T12_NV_DEFINE=00c100000065000000cc0018${E2E_NV_INDEX}${T12_PCRINFO}${T12_PCRINFO}00170000000200000000000010$Z20
# TPM_NV_WriteValue(index, offset 0, 16 bytes)  $1 = 32 hex chars of data
t12_nv_write() { echo "00c100000026000000cd${E2E_NV_INDEX}0000000000000010$1"; }
# TPM_NV_ReadValue(index, offset 0, 16 bytes)
T12_NV_READ=00c100000016000000cf${E2E_NV_INDEX}0000000000000010

# TPM 2.0 (TCG TPM 2.0 Part 3): tag 8001 TPM_ST_NO_SESSIONS
# TPM2_GetRandom(8)
T20_GETRANDOM=80010000000c0000017b0008
# TPM2_PCR_Read(sha256: PCR 16)
T20_PCRREAD16=8001000000140000017e00000001000b03000001

# rsp_rc <hex>: the response code (bytes 6..9) as 8 hex digits
rsp_rc() { echo "$1" | cut -c13-20; }
# rsp_len <hex>: the number of bytes in the response
rsp_len() { echo $(( ${#1} / 2 )); }
# rsp_tail <hex> <byte offset>: the hex from that byte on
rsp_tail() { echo "$1" | cut -c$(( $2 * 2 + 1 ))-; }

# TPM2_PCR_Extend(16, sha256: 32 bytes of 0x22), tag 8002 TPM_ST_SESSIONS with
# one password session (TPM_RS_PW, empty auth): PCR 16 needs no authorization
T20_EXTEND16=80020000004100000182000000100000000940000009000001000000000001000b2222222222222222222222222222222222222222222222222222222222222222
# rsp_digest <hex>: the last 32 bytes (the digest in a one-PCR TPM2_PCR_Read answer)
rsp_digest() { echo "$1" | awk '{ print substr($0, length($0) - 63) }'; }

# TPM2_CreatePrimary in the NULL hierarchy (TPM_RH_NULL, password session with
# empty auth): a restricted RSA decryption key (AES-128-CFB, SHA-256), no
# unique, outside info or PCRs; $1 = key bits as 4 hex digits (0800 = 2048,
# 0c00 = 3072). RSA key generation: the slow command of scenario 9 (about 0.1 s
# for 2048 and 1 s for 3072 bits on the 2026 development machine's host CPU,
# swtpm 0.7.1; far longer under TCG).
t20_create_primary_rsa() {
  # header, handle, auth area, inSensitive, inPublic (type, nameAlg, attributes, policy, symmetric,
  # scheme, keyBits, exponent, unique), outsideInfo, creationPCR
  echo "80020000004300000131""40000007""00000009400000090000000000""000400000000"\
"001a0001000b000300720000000600800043""0010$1""00000000""0000""0000""00000000"
}

# TPM 2.0 NV index 0x01500016, 16 bytes, TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD, written and read
# with the owner hierarchy's empty password (the session above); checked against swtpm 0.7.1
E2E_NV20_INDEX=01500016
T20_PW=00000009400000090000010000
T20_NV_DEFINE=80020000002d0000012a40000001${T20_PW}0000000e${E2E_NV20_INDEX}000b000200020000""0010
# TPM2_NV_Write(owner, index, 16 bytes, offset 0)  $1 = 32 hex chars of data
t20_nv_write() { echo "80020000003300000137""40000001${E2E_NV20_INDEX}${T20_PW}0010$1""0000"; }
# TPM2_NV_Read(owner, index, 16 bytes, offset 0); rsp_nv20 picks the data out of its answer
T20_NV_READ=8002000000230000014e40000001${E2E_NV20_INDEX}${T20_PW}00100000
rsp_nv20() { rsp_tail "$1" 16 | cut -c1-32; }
