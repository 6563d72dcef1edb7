package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.vtpmback.backend.state.CorruptStateException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.test.emulator.TpmPackets;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;
import org.vtpmback.backend.state.Uuid;

/** What the lifecycle tests do inside a guest (tpm2-tools, raw TPM 1.2 commands) and on the host. */
final class GuestTpm {
    static final String ZERO32 = "00".repeat(32);
    /** The handle of the first transient object loaded into a TPM 2.0 (see {@link #loadTransient}). */
    static final String TRANSIENT = "0x80000000";
    private static final Pattern PCR = Pattern.compile("(\\d+)\\s*:\\s*0x([0-9A-Fa-f]+)");

    private GuestTpm() {
    }

    /** PCR {@code index} of the sha256 bank, lower-case hex, through tpm2_pcrread. */
    static String pcr(Guest g, int index) throws Exception {
        String out = g.tpm2("tpm2_pcrread", "sha256:" + index);
        Matcher m = PCR.matcher(out);
        while (m.find()) {
            if (Integer.parseInt(m.group(1)) == index) {
                return m.group(2).toLowerCase();
            }
        }
        throw new AssertionError("no PCR " + index + " in: " + out);
    }

    /** Extends sha256 PCR {@code index} with {@code digest} and returns the value it must now have. */
    static String extend(Guest g, int index, String before, String digestHex) throws Exception {
        g.tpm2("tpm2_pcrextend", index + ":sha256=" + digestHex);
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        md.update(HexFormat.of().parseHex(before));
        md.update(HexFormat.of().parseHex(digestHex));
        String expected = HexFormat.of().formatHex(md.digest());
        assertEquals(expected, pcr(g, index));
        return expected;
    }

    /** Writes {@code value} to the guest's 8-byte NV index {@code index} (tpm2_nvwrite, owner auth). */
    static void writeNv64(Guest g, String index, long value) throws Exception {
        Path file = Files.createTempFile(g.work(), "nv", ".bin");
        Files.write(file, ByteBuffer.allocate(8).putLong(value).array());
        g.tpm2("tpm2_nvwrite", index, "-C", "o", "-i", file.toString());
    }

    /** Reads the guest's 8-byte NV index {@code index} (tpm2_nvread, owner auth). */
    static long readNv64(Guest g, String index) throws Exception {
        Path out = Files.createTempFile(g.work(), "nv", ".bin");
        g.tpm2("tpm2_nvread", index, "-C", "o", "-s", "8", "-o", out.toString());
        return ByteBuffer.wrap(Files.readAllBytes(out)).getLong();
    }

    /**
     * Defines the guest's NV index {@code index} of {@code size} bytes (owner read and write) and writes {@code text}
     * at its start (tpm2_nvdefine, tpm2_nvwrite, owner auth).
     */
    static void defineNvText(Guest g, String index, int size, String text) throws Exception {
        g.tpm2("tpm2_nvdefine", index, "-C", "o", "-s", Integer.toString(size), "-a", "ownerread|ownerwrite");
        Path file = Files.writeString(Files.createTempFile(g.work(), "nv", ".txt"), text);
        g.tpm2("tpm2_nvwrite", index, "-C", "o", "-i", file.toString());
    }

    /** The first {@code length} bytes of the guest's NV index {@code index} as text (tpm2_nvread, owner auth). */
    static String readNvText(Guest g, String index, int length) throws Exception {
        Path out = Files.createTempFile(g.work(), "nv", ".txt");
        g.tpm2("tpm2_nvread", index, "-C", "o", "-s", Integer.toString(length), "-o", out.toString());
        return Files.readString(out);
    }

    /**
     * Creates a primary key in the guest's TPM and leaves it loaded as the transient object {@link #TRANSIENT} (the
     * first transient handle of an empty TPM); returns its tpm2_readpublic, to compare after a resume.
     */
    static String loadTransient(Guest g) throws Exception {
        Path context = Files.createTempFile(g.work(), "transient", ".ctx");
        g.tpm2("tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc256", "-c", context.toString());
        String object = g.tpm2("tpm2_readpublic", "-c", TRANSIENT);
        assertTrue(object.contains("name:"), object);
        return object;
    }

    static String sha256Hex(String text) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes()));
    }

    /**
     * Stored record of {@code uuid}, read as the {@code vtpmback} commands read it: a store of its own on the host's
     * folder (the daemon's store is closed once the daemon stops; while it runs, this also reads its commit log).
     */
    static InstanceRecord stored(SimulatedVtpmHost host, String uuid) throws CorruptStateException {
        java.nio.file.Path dir = host.store().dir();
        try (org.vtpmback.backend.state.InstanceStore store = org.vtpmback.backend.state.InstanceStore.shared(dir,
                org.vtpmback.backend.state.MasterKey.load(dir.getParent().resolve("master.key")))) {
            return store.load(Uuid.parse(uuid)).orElseThrow(() -> new AssertionError("no stored vTPM " + uuid));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot open the vTPM store " + dir, e);
        }
    }

    /**
     * The record once the daemon has finished saving the last incarnation: libxl does not wait for that
     * (when the frontend closed first, the backend is already Closed when the nodes go), so it lands a
     * moment after the domain is destroyed.
     */
    static InstanceRecord awaitEnded(SimulatedVtpmHost host, String uuid) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        InstanceRecord r = stored(host, uuid);
        while (r.lastEnd() == InstanceRecord.EndKind.RUNNING) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("vTPM " + uuid + " still RUNNING after its domain was destroyed: " + r);
            }
            Thread.sleep(20);
            r = stored(host, uuid);
        }
        return r;
    }

    static Path file(SimulatedVtpmHost host, String uuid) {
        return host.store().fileOf(Uuid.parse(uuid));
    }

    /** Where the daemon reports a device's fatal error (xenbus_dev_fatal convention). */
    static XsPath errorNode(int domid) {
        return XsPath.of("/local/domain/" + SimulatedVtpmHost.BACKEND_DOMID).child("error").child("backend").child("vtpm")
                .child(domid).child(0).child("error");
    }

    /** Waits until the backend of {@code g} reports {@code state}; fails after {@code timeout}. */
    static void awaitBackend(SimulatedVtpmHost host, Guest g, XenbusState state, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!host.toolstack().backendState(g.domid(), 0).equals(Optional.of(state))) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("domain " + g.domid() + ": backend " + host.toolstack().backendState(g.domid(), 0)
                        + ", expected " + state);
            }
            Thread.sleep(20);
        }
    }

    static boolean exists(Path p) {
        return Files.exists(p);
    }

    // ---- TPM 1.2 raw commands (TPM 1.2 Main Part 3) ----

    static final int TPM12_TAG_RQU_COMMAND = 0x00C1;

    static byte[] tpm12(Guest g, int ordinal, byte[] body) throws Exception {
        byte[] cmd = ByteBuffer.allocate(10 + body.length).putShort((short) TPM12_TAG_RQU_COMMAND)
                .putInt(10 + body.length).putInt(ordinal).put(body).array();
        return g.transmit(cmd);
    }

    static int rc(byte[] response) {
        return TpmPackets.responseCode(response);
    }

    /** TPM_Extend (0x14): returns the new PCR value. */
    static byte[] tpm12Extend(Guest g, int pcr, byte[] digest20) throws Exception {
        byte[] r = tpm12(g, 0x14, ByteBuffer.allocate(24).putInt(pcr).put(digest20).array());
        assertEquals(0, rc(r), "TPM_Extend: " + HexFormat.of().formatHex(r));
        return java.util.Arrays.copyOfRange(r, 10, 30);
    }

    /** TPM_PCRRead (0x15). */
    static byte[] tpm12PcrRead(Guest g, int pcr) throws Exception {
        byte[] r = tpm12(g, 0x15, ByteBuffer.allocate(4).putInt(pcr).array());
        assertEquals(0, rc(r), "TPM_PCRRead: " + HexFormat.of().formatHex(r));
        assertEquals(30, r.length);
        return java.util.Arrays.copyOfRange(r, 10, 30);
    }

    /** TPM_NV_INDEX_EKCert with the D bit: where a TPM 1.2 keeps its EK certificate. */
    static final int TPM12_EK_CERT_INDEX = 0x1000F000;

    /**
     * The EK certificate as a TPM 1.2 guest's tools read it: TPM_NV_ReadValue (0xCF) of NV 0x1000f000 without any
     * authorization (no owner secret), first the TCG stored-certificate header (tag 0x1001, certType 0, certSize, tag
     * 0x1002), then the DER it announces.
     */
    static java.security.cert.X509Certificate tpm12EkCertificate(Guest g) throws Exception {
        byte[] header = tpm12NvRead(g, TPM12_EK_CERT_INDEX, 0, 7);
        ByteBuffer h = ByteBuffer.wrap(header);
        assertEquals(0x1001, h.getShort(0), "TCG_TAG_PCCLIENT_STORED_CERT: " + HexFormat.of().formatHex(header));
        assertEquals(0, h.get(2), "certType: a full certificate");
        assertEquals(0x1002, h.getShort(5), "TCG_TAG_PCCLIENT_FULL_CERT");
        byte[] der = tpm12NvRead(g, TPM12_EK_CERT_INDEX, 7, Short.toUnsignedInt(h.getShort(3)) - 2);
        return (java.security.cert.X509Certificate) java.security.cert.CertificateFactory.getInstance("X.509")
                .generateCertificate(new java.io.ByteArrayInputStream(der));
    }

    /** TPM_NV_ReadValue without authorization: the data read. */
    static byte[] tpm12NvRead(Guest g, int index, int offset, int size) throws Exception {
        byte[] r = tpm12(g, 0xCF, ByteBuffer.allocate(12).putInt(index).putInt(offset).putInt(size).array());
        assertOk(r, String.format("TPM_NV_ReadValue(0x%08x, %d, %d)", index, offset, size));
        int n = ByteBuffer.wrap(r).getInt(10);
        assertEquals(size, n);
        return java.util.Arrays.copyOfRange(r, 14, 14 + n);
    }

    /** The modulus in a TPM_ReadPubek response: TPM_PUBKEY {TPM_KEY_PARMS {alg, enc, sig, size, parms}, TPM_STORE_PUBKEY}. */
    static java.math.BigInteger pubekModulus(byte[] response) {
        ByteBuffer b = ByteBuffer.wrap(response, 10, response.length - 10);
        b.getInt(); // algorithmID
        b.getShort(); // encScheme
        b.getShort(); // sigScheme
        int parms = b.getInt();
        b.position(b.position() + parms); // TPM_RSA_KEY_PARMS
        byte[] modulus = new byte[b.getInt()];
        b.get(modulus);
        return new java.math.BigInteger(1, modulus);
    }

    /** The host's local EK CA certificate, from its file ({@code state/ca/ek-ca.crt}). */
    static java.security.cert.X509Certificate localCa(SimulatedVtpmHost host) throws Exception {
        try (java.io.InputStream in = Files.newInputStream(host.work().resolve("state/ca")
                .resolve(org.vtpmback.backend.manufacture.LocalCa.CERT_FILE))) {
            return (java.security.cert.X509Certificate) java.security.cert.CertificateFactory.getInstance("X.509")
                    .generateCertificate(in);
        }
    }

    static void assertOk(byte[] r, String what) {
        assertTrue(rc(r) == 0, what + " failed: rc 0x" + Integer.toHexString(rc(r)) + " " + HexFormat.of().formatHex(r));
    }
}
