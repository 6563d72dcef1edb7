package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * The host's master key: 32 random bytes in a file only the daemon's user can read. Each vTPM gets its
 * own key derived from it (HKDF-SHA256 with the uuid), so one instance's file can never be decrypted
 * with another's key, and exporting one instance never exposes the master key. The HKDF is {@link HkdfSha256},
 * HMAC written out over the JDK's SHA-256; it runs once per uuid per store ({@link RecordFiles} keeps the keys).
 *
 * <p>A key is never made behind the operator's back while sealed records exist: a new key opens none
 * of them, so every stored vTPM would be lost. It is made by an explicit {@link #create} ({@code
 * vtpmback init}) or by {@link #loadOrCreate} when there is no record at all (the daemon's first start).
 * Loading checks, without following symbolic links, that the key is a regular file owned by this
 * process's uid with no access for group or others, and that it is exactly {@value #LENGTH} bytes.
 */
public final class MasterKey {
    public static final int LENGTH = 32;
    /** The key's file name in state-dir unless configured otherwise. */
    public static final String FILE_NAME = "master.key";
    /** What the operator must do with a new key, said whenever one is made. */
    public static final String BACKUP_ADVICE = "back it up now, away from this host's disks (and optionally seal it to"
            + " the host's TPM as a systemd credential): every vTPM stored here is sealed with it, none can be read"
            + " without it, and vtpmback never makes a new one while sealed records exist";
    private static final System.Logger LOG = System.getLogger(MasterKey.class.getName());

    private final byte[] key;
    private final Path path;

    private MasterKey(byte[] key, Path path) {
        this.key = key;
        this.path = path;
    }

    /**
     * Loads an existing key. Refused, with one line naming the path and the fix: a missing file, a
     * symbolic link, anything but a regular file, a file owned by another uid, a mode that gives group
     * or others any access, a size other than {@value #LENGTH} bytes.
     */
    public static MasterKey load(Path path) throws IOException {
        PosixFileAttributes before = PrivatePaths.attributes(path).orElseThrow(() ->
                new Missing("master key " + path + " does not exist"));
        Optional<String> problem = PrivatePaths.problem(path, before, "master key " + path, false,
                PrivatePaths.GROUP_OTHER_ANY, "chmod 600");
        if (problem.isPresent()) {
            throw new IOException(problem.get());
        }
        if (before.size() != LENGTH) {
            throw wrongSize(path, before.size());
        }
        byte[] key = new byte[LENGTH];
        // O_NOFOLLOW: a symbolic link put there after the check above is not followed either.
        try (SeekableByteChannel ch = Files.newByteChannel(path, Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS))) {
            ByteBuffer buf = ByteBuffer.wrap(key);
            while (buf.hasRemaining() && ch.read(buf) >= 0) {
                // keep reading
            }
            if (buf.hasRemaining() || ch.size() != LENGTH) {
                throw wrongSize(path, ch.size());
            }
        }
        PosixFileAttributes after = PrivatePaths.attributes(path).orElse(null);
        if (after == null || !Objects.equals(before.fileKey(), after.fileKey())) {
            throw new IOException("master key " + path + " was replaced while it was read; refusing it");
        }
        return new MasterKey(key, path);
    }

    private static IOException wrongSize(Path path, long size) {
        return new IOException("master key " + path + " has " + size + " bytes, expected " + LENGTH
                + "; refusing to use or replace it (every stored vTPM depends on it): restore it from its backup");
    }

    /**
     * Makes a new key at {@code path} (and its folder, 0700, if missing). Refuses if anything is already
     * there: the file appears complete or not at all (written aside, then hard-linked into place, which
     * never replaces an existing file). The caller tells the operator {@link #BACKUP_ADVICE}.
     */
    public static MasterKey create(Path path) throws IOException {
        if (PrivatePaths.exists(path)) {
            throw new FileAlreadyExistsException(path.toString(), null,
                    "a master key is already there; refusing to replace it (every stored vTPM depends on it)");
        }
        Path dir = AtomicFiles.createPrivateDirectory(path.toAbsolutePath().getParent());
        byte[] key = new byte[LENGTH];
        new SecureRandom().nextBytes(key);
        Path temp = dir.resolve("." + path.getFileName() + "." + Long.toHexString(new SecureRandom().nextLong())
                + AtomicFiles.TEMP_SUFFIX);
        try {
            try (FileChannel ch = FileChannel.open(temp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                    PosixFilePermissions.asFileAttribute(AtomicFiles.OWNER_ONLY))) {
                ByteBuffer buf = ByteBuffer.wrap(key);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            Files.createLink(path, temp); // link(2): EEXIST rather than replacing a key made meanwhile
        } finally {
            Files.deleteIfExists(temp);
        }
        AtomicFiles.syncDirectory(dir);
        return new MasterKey(key, path);
    }

    /**
     * The daemon's start: loads the key, or creates it only if {@code recordsDir} holds no sealed file,
     * logging a warning with {@link #BACKUP_ADVICE}. With records and no key it refuses
     * ({@link #missingMessage}), since a new key would open none.
     */
    public static MasterKey loadOrCreate(Path path, Path recordsDir) throws IOException {
        if (PrivatePaths.exists(path)) {
            return load(path);
        }
        int sealed = sealedFiles(recordsDir);
        if (sealed > 0) {
            throw new Missing(missingMessage(path, recordsDir, sealed));
        }
        MasterKey created = create(path);
        LOG.log(System.Logger.Level.WARNING, "first start (no sealed file in {0}): created a new master key {1}; {2}",
                recordsDir, path, BACKUP_ADVICE);
        return created;
    }

    /** How many sealed vTPM records ({@code *.vtpm}) {@code recordsDir} holds; 0 if it does not exist. */
    public static int sealedRecords(Path recordsDir) throws IOException {
        return count(recordsDir, "*" + InstanceStore.SUFFIX);
    }

    /**
     * How many files sealed with the master key {@code recordsDir} holds: the vTPM records and the
     * generation anchor ({@code *.anchor}); 0 if it does not exist. A key is made only when this is 0.
     */
    public static int sealedFiles(Path recordsDir) throws IOException {
        return count(recordsDir, "*{" + InstanceStore.SUFFIX + ",.anchor}");
    }

    private static int count(Path dir, String glob) throws IOException {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, glob)) {
            int n = 0;
            for (Path ignored : files) {
                n++;
            }
            return n;
        }
    }

    /** The one line that refuses to go on without the key that sealed {@code files} files in {@code recordsDir}. */
    public static String missingMessage(Path path, Path recordsDir, int files) {
        return "master key " + path + " is missing but " + recordsDir + " holds " + files + " file" + (files == 1 ? "" : "s")
                + " sealed with it: restore the key from its backup to that path (a new key would open none of them,"
                + " so none is made)";
    }

    /** The key is not there: restore it, or make one explicitly if nothing was ever sealed with it. */
    public static final class Missing extends IOException {
        private static final long serialVersionUID = 1L;

        public Missing(String message) {
            super(message);
        }
    }

    /**
     * The AES key for one purpose of one vTPM instance (HKDF-SHA256, as {@link #derive}); the caller owns it
     * and destroys it when done.
     */
    public SealingKey sealingKey(String uuid, String purpose) {
        return new SealingKey(derive(uuid, purpose));
    }

    /** A 32-byte key for one purpose of one vTPM instance. */
    public byte[] derive(String uuid, String purpose) {
        byte[] info = ("vtpmback/" + purpose + "/" + uuid).getBytes(StandardCharsets.UTF_8);
        return HkdfSha256.derive(key, info, LENGTH);
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
