package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Set;
import org.bouncycastle.crypto.digests.SHA256Digest;
import org.bouncycastle.crypto.generators.HKDFBytesGenerator;
import org.bouncycastle.crypto.params.HKDFParameters;

/**
 * The host's master key: 32 random bytes in a file only root can read, created on first run. Each
 * vTPM gets its own key derived from it (HKDF-SHA256 with the uuid), so one instance's file can never
 * be decrypted with another's key, and exporting one instance never exposes the master key.
 */
public final class MasterKey {
    public static final int LENGTH = 32;
    private static final System.Logger LOG = System.getLogger(MasterKey.class.getName());

    private final byte[] key;
    private final Path path;

    private MasterKey(byte[] key, Path path) {
        this.key = key;
        this.path = path;
    }

    /**
     * Loads the key, or creates it if the file does not exist. A file of the wrong size or readable by
     * others is refused: silently replacing it would make every stored vTPM unreadable.
     */
    public static MasterKey loadOrCreate(Path path) throws IOException {
        if (Files.exists(path)) {
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(path);
            if (perms.stream().anyMatch(p -> p != PosixFilePermission.OWNER_READ && p != PosixFilePermission.OWNER_WRITE)) {
                throw new IOException("master key " + path + " is accessible to others (" + perms + "); chmod 600 it");
            }
            byte[] key = Files.readAllBytes(path);
            if (key.length != LENGTH) {
                throw new IOException("master key " + path + " has " + key.length + " bytes, expected " + LENGTH
                        + "; refusing to use or replace it (every stored vTPM depends on it)");
            }
            return new MasterKey(key, path);
        }
        AtomicFiles.createPrivateDirectory(path.toAbsolutePath().getParent());
        byte[] key = new byte[LENGTH];
        new SecureRandom().nextBytes(key);
        AtomicFiles.write(path, key, AtomicFiles.OWNER_ONLY);
        LOG.log(System.Logger.Level.INFO, "created master key {0}: back it up, stored vTPMs cannot be read without it", path);
        return new MasterKey(key, path);
    }

    /** A 32-byte key for one purpose of one vTPM instance. */
    public byte[] derive(String uuid, String purpose) {
        HKDFBytesGenerator hkdf = new HKDFBytesGenerator(new SHA256Digest());
        byte[] info = ("vtpmback/" + purpose + "/" + uuid).getBytes(StandardCharsets.UTF_8);
        hkdf.init(new HKDFParameters(key, null, info));
        byte[] out = new byte[LENGTH];
        hkdf.generateBytes(out, 0, out.length);
        return out;
    }

    public Path path() {
        return path;
    }

    @Override
    public String toString() {
        return "MasterKey[" + path + "]"; // never the bytes
    }

    /** For tests: two keys are the same key. */
    boolean sameAs(MasterKey other) {
        return Arrays.equals(key, other.key);
    }
}
