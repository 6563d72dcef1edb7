package org.vtpmback.backend.instance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.EngineBoot;
import org.vtpmback.backend.engine.StateBlobs;
import org.vtpmback.backend.engine.SwtpmConfig;
import org.vtpmback.backend.engine.SwtpmLauncher;
import org.vtpmback.backend.engine.TpmEngine;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.xen.DomainId;

/**
 * A swtpm the last daemon left in a vTPM's folder is kept for its guest only if it runs the vTPM's TPM. The case
 * the record alone cannot tell: a DAEMON_STOPPED record with its snapshot (the last clean stop left the guest's swtpm
 * running, and says so), while the swtpm now in the folder is one spawned empty at InitWait (EarlyEngines) and left by
 * a crash before the connect loaded any state. Its folder has no permanent-state file: it is stopped, not held (a
 * re-attach restoring the snapshot would otherwise take it over as the guest's running TPM: an empty, never-INITed
 * one). Beside it, the same record with a swtpm that does run the vTPM's state is held. Real swtpm, real store.
 */
@Timeout(120)
class SurvivorsTest {
    private static final DomainId GUEST = new DomainId(7);

    @TempDir
    Path tmp;
    private InstanceStore store;
    private Survivors survivors;
    private TpmEngine left;

    @BeforeEach
    void setUp() throws Exception {
        store = new InstanceStore(tmp.resolve("state"), MasterKey.loadOrCreate(tmp.resolve("master.key"), tmp.resolve("state")));
        SwtpmLauncher next = new SwtpmLauncher(SwtpmConfig.defaults(tmp.resolve("run")));
        survivors = new Survivors(next, new InstanceServices(store, boot(next), domain -> Optional.empty()));
    }

    @AfterEach
    void tearDown() {
        survivors.stopUnclaimed();
        if (left != null && left.processId().isPresent()) {
            ProcessHandle.of(left.processId().getAsLong()).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    /** The engine folders under the runtime-dir, as the daemon lays them out. */
    private EngineBoot boot(SwtpmLauncher launcher) {
        return new EngineBoot(launcher, tmp.resolve("run/instances"));
    }

    /** The last daemon's engines: another launcher, as another process would have. */
    private EngineBoot lastDaemon() {
        return boot(new SwtpmLauncher(SwtpmConfig.defaults(tmp.resolve("run"))));
    }

    /** vTPM {@code uuid} as a clean daemon stop leaves it under a running guest: DAEMON_STOPPED, with its snapshot. */
    private StateBlobs stoppedUnderItsGuest(Uuid uuid) throws Exception {
        EngineBoot boot = lastDaemon();
        TpmEngine running = boot.startBlank(uuid.value(), TpmFamily.TPM2);
        StateBlobs blobs;
        try {
            blobs = running.saveState(true);
        } finally {
            running.close();
            EngineBoot.removeFolder(boot.blankFolderOf(uuid.value()));
        }
        InstanceRecord made = store.create(uuid, TpmFamily.TPM2, blobs.permanent());
        store.save(made.withSave(made.generation() + 1, EndKind.DAEMON_STOPPED, blobs.permanent(),
                Optional.of(new InstanceRecord.Snapshot(EndKind.DAEMON_STOPPED, blobs.volatileState().orElseThrow()))));
        return blobs;
    }

    private static boolean alive(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    @Test
    void anEarlySwtpmLeftByACrashIsStoppedEvenWithADaemonStoppedSnapshot() throws Exception {
        Uuid uuid = Uuid.parse(UUID.randomUUID().toString());
        stoppedUnderItsGuest(uuid);
        InstanceRecord before = store.load(uuid).orElseThrow();
        EngineBoot last = lastDaemon();
        left = last.spawnEmpty(uuid.value(), GUEST, TpmFamily.TPM2); // the new domain's device reached InitWait
        long pid = left.processId().getAsLong();
        left.detach(); // the daemon is killed before the frontend connects: its swtpm runs on, empty
        assertFalse(Files.exists(EngineBoot.permanentStateFile(TpmFamily.TPM2, last.folderOf(uuid.value()))),
                "never INITed: no state file in its folder");

        Survivors.Outcome outcome = survivors.recover(last.folderOf(uuid.value()), uuid.value());

        assertEquals(Survivors.Outcome.NONE, outcome, "not held for a take-over");
        assertFalse(survivors.holds(uuid.value()));
        assertFalse(alive(pid), "stopped");
        InstanceRecord after = store.load(uuid).orElseThrow();
        assertEquals(before.generation(), after.generation(), "nothing stored from it");
        assertEquals(EndKind.DAEMON_STOPPED, after.snapshot().orElseThrow().reason(), "the snapshot stays for the re-attach");
    }

    @Test
    void theGuestsSwtpmLeftByACleanStopIsHeld() throws Exception {
        Uuid uuid = Uuid.parse(UUID.randomUUID().toString());
        StateBlobs blobs = stoppedUnderItsGuest(uuid);
        EngineBoot last = lastDaemon();
        left = last.start(uuid.value(), GUEST, TpmFamily.TPM2, blobs); // the guest's TPM, as the stop left it
        long pid = left.processId().getAsLong();
        left.detach();

        Survivors.Outcome outcome = survivors.recover(last.folderOf(uuid.value()), uuid.value());

        assertEquals(Survivors.Outcome.KEPT_AFTER_STOP, outcome);
        assertTrue(survivors.holds(uuid.value()));
        assertTrue(alive(pid), "held for its guest's re-attach");
        assertArrayEquals(blobs.permanent(), store.load(uuid).orElseThrow().permanent(), "nothing stored from it");
        survivors.stopUnclaimed();
        assertFalse(alive(pid), "stopped once nobody re-attached");
    }
}
