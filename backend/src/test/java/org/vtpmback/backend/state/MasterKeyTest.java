package org.vtpmback.backend.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The master key is made only explicitly or with no sealed record around, and only a private regular file is used. */
class MasterKeyTest {
    @TempDir
    Path dir;

    private Path key() {
        return dir.resolve("master.key");
    }

    private Path records() {
        return dir.resolve("instances");
    }

    private static String refusal(Path key) {
        return assertThrows(IOException.class, () -> MasterKey.load(key)).getMessage();
    }

    @Test
    void firstStartWithoutRecordsCreatesAPrivateKeyThatIsThenKept() throws Exception {
        MasterKey first = MasterKey.loadOrCreate(key(), records());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(key())));
        assertEquals(MasterKey.LENGTH, Files.size(key()));
        assertTrue(first.sameAs(MasterKey.loadOrCreate(key(), records())));
        assertTrue(first.sameAs(MasterKey.load(key())));
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temp file left beside the key");
        }
    }

    /** Failed before the fix: loadOrCreate made a new key, and every sealed record became unreadable. */
    @Test
    void aMissingKeyWithSealedRecordsIsRefusedAndNoneIsMade() throws Exception {
        InstanceStore store = new InstanceStore(records(), MasterKey.loadOrCreate(key(), records()));
        store.save(InstanceStoreTest.record(InstanceStoreTest.UUID_A, 1, 10));
        store.save(InstanceStoreTest.record(InstanceStoreTest.UUID_B, 1, 10));
        Files.delete(key());
        MasterKey.Missing e = assertThrows(MasterKey.Missing.class, () -> MasterKey.loadOrCreate(key(), records()));
        // 2 records (and, where the store keeps one, its generation anchor: also sealed with the key)
        assertTrue(e.getMessage().matches("master key " + key() + " is missing but " + records() + " holds [23] files sealed"
                + " with it: restore the key from its backup to that path \\(a new key would open none of them, so none is"
                + " made\\)"), e.getMessage());
        assertFalse(Files.exists(key()));
        assertEquals(2, MasterKey.sealedRecords(records()));
        Files.delete(store.fileOf(InstanceStoreTest.UUID_A));
        Files.delete(store.fileOf(InstanceStoreTest.UUID_B));
        Files.write(records().resolve("generations.anchor"), new byte[] {1});
        assertThrows(MasterKey.Missing.class, () -> MasterKey.loadOrCreate(key(), records()), "the anchor is sealed too");
        assertTrue(assertThrows(MasterKey.Missing.class, () -> MasterKey.load(key())).getMessage().contains("does not exist"));
    }

    @Test
    void createNeverReplacesAKey() throws Exception {
        MasterKey first = MasterKey.create(key());
        assertTrue(assertThrows(IOException.class, () -> MasterKey.create(key())).getMessage().contains("already there"));
        assertTrue(first.sameAs(MasterKey.load(key())));
        Files.delete(key());
        Files.createSymbolicLink(key(), dir.resolve("nowhere"));
        assertThrows(IOException.class, () -> MasterKey.create(key()), "not even through a dangling link");
        assertFalse(Files.exists(dir.resolve("nowhere")));
    }

    @Test
    void aKeyOfTheWrongSizeIsRefusedNotReplaced() throws Exception {
        MasterKey.create(key());
        Files.write(key(), new byte[5]);
        assertTrue(refusal(key()).contains("has 5 bytes, expected 32; refusing"), refusal(key()));
        assertThrows(IOException.class, () -> MasterKey.loadOrCreate(key(), records()));
        assertEquals(5, Files.size(key()));
    }

    /** Failed before the fix for mode 0640 only if others could read; now any group or other bit is refused. */
    @Test
    void aGroupReadableKeyIsRefused() throws Exception {
        MasterKey.create(key());
        Files.setPosixFilePermissions(key(), PosixFilePermissions.fromString("rw-r-----"));
        assertEquals("master key " + key() + " has mode 0640, open to group or others; chmod 600 " + key(), refusal(key()));
        Files.setPosixFilePermissions(key(), PosixFilePermissions.fromString("r--------"));
        MasterKey.load(key()); // 0400, as systemd gives a credential, is stricter: fine
    }

    /** Failed before the fix: the owner was not checked. */
    @Test
    void aKeyOwnedByAnotherUidIsRefused() throws Exception {
        assumeTrue(PrivatePaths.processUid() == 0, "chown needs root");
        MasterKey.create(key());
        UserPrincipal nobody = dir.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody");
        Files.setOwner(key(), nobody);
        String m = refusal(key());
        assertTrue(m.startsWith("master key " + key() + " is owned by uid 65534, not by this process's uid 0"), m);
    }

    /** Failed before the fix: the key was read through a symbolic link. */
    @Test
    void aSymlinkedKeyIsRefused() throws Exception {
        Path real = MasterKey.create(dir.resolve("elsewhere.key")).path();
        Files.createSymbolicLink(key(), real);
        String m = refusal(key());
        assertTrue(m.startsWith("master key " + key() + " is a symbolic link (-> " + real + "); refusing to follow it"), m);
        assertThrows(IOException.class, () -> MasterKey.loadOrCreate(key(), records()));
    }

    @Test
    void aFolderOrDeviceIsNotAKey() throws Exception {
        Files.createDirectory(key());
        assertEquals("master key " + key() + " is not a regular file; put the real file there (or configure its path)", refusal(key()));
    }

    /** Failed before the fix: createPrivateDirectory followed a symbolic link to a folder. */
    @Test
    void aSymlinkedRecordsFolderIsRefused() throws Exception {
        Path real = Files.createDirectory(dir.resolve("real"));
        Files.createSymbolicLink(records(), real);
        IOException e = assertThrows(IOException.class, () -> new InstanceStore(records(), MasterKey.create(key())));
        assertTrue(e.getMessage().contains("is a symbolic link"), e.getMessage());
    }
}
