package org.vtpmback.backend.state;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.BufferUnderflowException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Arrays;
import org.bouncycastle.crypto.PBEParametersGenerator;
import org.bouncycastle.crypto.digests.SHA256Digest;
import org.bouncycastle.crypto.generators.PKCS5S2ParametersGenerator;
import org.bouncycastle.crypto.params.KeyParameter;

/**
 * A vTPM instance packed for another host ({@code vtpmback export} / {@code import}): the stored
 * record (permanent state, and the suspend snapshot if there is one), re-sealed with a key derived
 * from an operator's passphrase instead of this host's master key, which never leaves the host.
 *
 * <p>Layout: header = magic {@code VTPMEXP} + format 1, KDF id (1 = PBKDF2-HMAC-SHA256), u32
 * iterations, 16-byte salt, UTF uuid; then a {@link Sealer} AES-256-GCM envelope of the record whose
 * associated data is the whole header. So the uuid (and the KDF parameters) cannot be changed without
 * the bundle failing to open, and a bundle cannot be passed off as another vTPM's.
 */
public final class InstanceBundle {
    static final byte[] MAGIC = {'V', 'T', 'P', 'M', 'E', 'X', 'P', 1};
    static final int KDF_PBKDF2_SHA256 = 1;
    /** OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256. */
    public static final int DEFAULT_ITERATIONS = 600_000;
    /** Below this a bundle is refused on import: no one should be handed a weakly protected vTPM. */
    static final int MIN_ITERATIONS = 100_000;
    private static final int MAX_ITERATIONS = 100_000_000;
    static final int SALT_LENGTH = 16;
    private static final SecureRandom RANDOM = new SecureRandom();

    private InstanceBundle() {
    }

    /** Packs {@code record} under {@code passphrase} with the default work factor. */
    public static byte[] export(InstanceRecord record, char[] passphrase) {
        return export(record, passphrase, DEFAULT_ITERATIONS);
    }

    static byte[] export(InstanceRecord record, char[] passphrase, int iterations) {
        checkPassphrase(passphrase);
        byte[] salt = new byte[SALT_LENGTH];
        RANDOM.nextBytes(salt);
        byte[] header = header(iterations, salt, record.uuid());
        byte[] key = derive(passphrase, salt, iterations);
        try {
            byte[] sealed = Sealer.seal(key, context(header), record.encode());
            byte[] out = Arrays.copyOf(header, header.length + sealed.length);
            System.arraycopy(sealed, 0, out, header.length, sealed.length);
            return out;
        } finally {
            Arrays.fill(key, (byte) 0);
        }
    }

    /**
     * The uuid a bundle says it holds, without the passphrase: for messages and for checking before an
     * import. Not authenticated until {@link #open} succeeds.
     */
    public static Uuid uuidOf(byte[] bundle) throws SealedDataException {
        return parse(bundle).uuid;
    }

    /**
     * Opens a bundle: the record it holds.
     *
     * @throws SealedDataException if it is not a bundle, was modified or cut short, or the passphrase is wrong
     */
    public static InstanceRecord open(byte[] bundle, char[] passphrase) throws SealedDataException {
        checkPassphrase(passphrase);
        Header h = parse(bundle);
        byte[] key = derive(passphrase, h.salt, h.iterations);
        byte[] plain;
        try {
            plain = Sealer.open(key, context(Arrays.copyOf(bundle, h.length)), Arrays.copyOfRange(bundle, h.length, bundle.length));
        } catch (SealedDataException e) {
            throw new SealedDataException("bundle of vTPM " + h.uuid + " does not open: wrong passphrase, or the bundle"
                    + " was modified or cut short (" + e.getMessage() + ")");
        } finally {
            Arrays.fill(key, (byte) 0);
        }
        InstanceRecord record;
        try {
            record = InstanceRecord.decode(plain);
        } catch (IOException e) {
            throw new SealedDataException("bundle of vTPM " + h.uuid + " opened but holds no readable record: " + e.getMessage());
        }
        if (!record.uuid().equals(h.uuid)) {
            throw new SealedDataException("bundle says vTPM " + h.uuid + " but holds vTPM " + record.uuid());
        }
        return record;
    }

    private record Header(int iterations, byte[] salt, Uuid uuid, int length) {
    }

    private static byte[] header(int iterations, byte[] salt, Uuid uuid) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.write(MAGIC);
            out.writeByte(KDF_PBKDF2_SHA256);
            out.writeInt(iterations);
            out.write(salt);
            out.writeUTF(uuid.value());
            out.flush();
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Header parse(byte[] bundle) throws SealedDataException {
        ByteBuffer b = ByteBuffer.wrap(bundle);
        try {
            byte[] magic = new byte[MAGIC.length];
            b.get(magic);
            if (!Arrays.equals(MAGIC, magic)) {
                throw new SealedDataException("not a vtpmback export bundle (bad magic or format version)");
            }
            int kdf = b.get();
            if (kdf != KDF_PBKDF2_SHA256) {
                throw new SealedDataException("bundle uses unknown key derivation " + kdf);
            }
            int iterations = b.getInt();
            if (iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
                throw new SealedDataException("bundle's key derivation work factor " + iterations + " is out of range");
            }
            byte[] salt = new byte[SALT_LENGTH];
            b.get(salt);
            int n = b.getShort() & 0xffff;
            byte[] u = new byte[n];
            b.get(u);
            Uuid uuid;
            try {
                uuid = Uuid.parse(new String(u, StandardCharsets.UTF_8));
            } catch (IllegalArgumentException e) {
                throw new SealedDataException("bundle header: " + e.getMessage());
            }
            return new Header(iterations, salt, uuid, b.position());
        } catch (BufferUnderflowException e) {
            throw new SealedDataException("bundle truncated: " + bundle.length + " bytes is shorter than its header");
        }
    }

    private static byte[] derive(char[] passphrase, byte[] salt, int iterations) {
        PKCS5S2ParametersGenerator gen = new PKCS5S2ParametersGenerator(new SHA256Digest());
        byte[] pw = PBEParametersGenerator.PKCS5PasswordToUTF8Bytes(passphrase);
        try {
            gen.init(pw, salt, iterations);
            return ((KeyParameter) gen.generateDerivedParameters(256)).getKey();
        } finally {
            Arrays.fill(pw, (byte) 0);
        }
    }

    /** Associated data for the sealed part: the header, as text-safe hex so {@link Sealer} can take it. */
    private static String context(byte[] header) {
        return "vtpmback export " + java.util.HexFormat.of().formatHex(header);
    }

    private static void checkPassphrase(char[] passphrase) {
        if (passphrase == null || passphrase.length == 0) {
            throw new IllegalArgumentException("empty passphrase");
        }
    }
}
