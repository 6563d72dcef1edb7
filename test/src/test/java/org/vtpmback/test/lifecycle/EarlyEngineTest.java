package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.test.lifecycle.GuestTpm.TRANSIENT;
import static org.vtpmback.test.lifecycle.GuestTpm.ZERO32;
import static org.vtpmback.test.lifecycle.GuestTpm.awaitEnded;
import static org.vtpmback.test.lifecycle.GuestTpm.defineNvText;
import static org.vtpmback.test.lifecycle.GuestTpm.extend;
import static org.vtpmback.test.lifecycle.GuestTpm.loadTransient;
import static org.vtpmback.test.lifecycle.GuestTpm.pcr;
import static org.vtpmback.test.lifecycle.GuestTpm.readNvText;
import static org.vtpmback.test.lifecycle.GuestTpm.sha256Hex;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.ProgressWait;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;
import org.vtpmback.xen.ShutdownReason;

/**
 * An existing vTPM's swtpm is spawned, empty, when its device reaches InitWait (xl create -p: before the guest
 * runs), and its connect only loads the state into it: a reboot boots the stored state (PCRs reset, NV kept), a
 * resume continues the suspended one (PCRs exactly as at suspend). A device removed before its frontend connected
 * leaves no swtpm and no folder, and the vTPM starts normally afterwards.
 */
@UseSimulatedHost
@Timeout(300)
class EarlyEngineTest {
    private static final String NV_INDEX = "0x1500017";
    private static final String NV_TEXT = "kept";

    @RegisterExtension
    final LogCapture logs = new LogCapture();
    SimulatedVtpmHost host;
    Path work;

    @BeforeEach
    void start(SimulatedVtpmHost host) {
        this.host = host;
        this.work = host.work();
    }

    private Path folder(String uuid) {
        return work.resolve("run/instances/" + uuid);
    }

    /** The pid of the swtpm spawned at InitWait for the paused domain {@code g}, once it is there. */
    private long earlySwtpm(Guest g, String uuid) throws Exception {
        Path pidFile = folder(uuid).resolve("swtpm.pid");
        ProgressWait.await("domain " + g.domid() + ": swtpm spawned at InitWait",
                () -> !logs.since(0, "vTPM " + uuid + ": swtpm spawned while the guest boots").isEmpty() && Files.exists(pidFile),
                () -> logs.since(0, uuid).toString());
        assertFalse(g.frontend().isConnected(), "spawned before the frontend connected");
        return Long.parseLong(Files.readString(pidFile).strip());
    }

    /**
     * Until the daemon has let go of {@code g}'s device: its save is committed before the vTPM's lease is released, so
     * a domain created on the record's commit alone may find the lease still held (then nothing is spawned early).
     */
    private void awaitGone(Guest g) throws Exception {
        String gone = "domain " + g.domid() + " vtpm 0: device gone";
        ProgressWait.await(gone, () -> !logs.since(0, gone).isEmpty(), () -> logs.since(0, "domain " + g.domid()).toString());
    }

    private long runningSwtpm(String uuid) throws Exception {
        return Long.parseLong(Files.readString(folder(uuid).resolve("swtpm.pid")).strip());
    }

    private static boolean alive(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    private Guest inUse(String uuid) throws Exception {
        Guest g = host.boot(uuid);
        defineNvText(g, NV_INDEX, NV_TEXT.length(), NV_TEXT);
        return g;
    }

    @Test
    void aRebootLoadsTheStoredStateIntoTheSwtpmSpawnedAtInitWait() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = inUse(uuid);
        extend(g, 16, ZERO32, sha256Hex("measured before the reboot"));
        g.shutdown(ShutdownReason.REBOOT);
        assertEquals(EndKind.SHUTDOWN, awaitEnded(host, uuid).lastEnd());
        awaitGone(g);

        int mark = logs.size();
        Guest rebooted = host.create(uuid, false); // xl create -p: InitWait, the guest not running yet
        long early = earlySwtpm(rebooted, uuid);
        assertTrue(alive(early));
        rebooted.unpause();

        assertEquals(1, logs.since(mark, "start mode CLEAR").size(), logs.since(mark, "start mode").toString());
        assertEquals(1, logs.since(mark, "vTPM " + uuid + ": state loaded into its swtpm spawned at InitWait").size(),
                logs.since(mark, uuid).toString());
        assertEquals(early, runningSwtpm(uuid), "the guest's TPM runs in the swtpm spawned at InitWait");
        assertEquals(ZERO32, pcr(rebooted, 16), "a boot: PCR 16 reset");
        assertEquals(NV_TEXT, readNvText(rebooted, NV_INDEX, NV_TEXT.length()), "a boot: NV kept");
    }

    @Test
    void aResumeLoadsTheSnapshotIntoTheSwtpmSpawnedAtInitWait() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        String pcr16 = extend(g, 16, ZERO32, sha256Hex("measured before the suspend"));
        String object = loadTransient(g);
        g.suspend();
        assertEquals(EndKind.SUSPENDED, awaitEnded(host, uuid).lastEnd());
        awaitGone(g);

        int mark = logs.size();
        Guest restored = host.create(uuid, true); // xl restore -p, marked as vtpmback restore does
        long early = earlySwtpm(restored, uuid);
        restored.unpause();

        assertEquals(1, logs.since(mark, "start mode RESTORE").size(), logs.since(mark, "start mode").toString());
        assertEquals(1, logs.since(mark, "vTPM " + uuid + ": state loaded into its swtpm spawned at InitWait").size(),
                logs.since(mark, uuid).toString());
        assertEquals(early, runningSwtpm(uuid));
        assertEquals(pcr16, pcr(restored, 16), "PCR 16 as at suspend");
        assertEquals(object, restored.tpm2("tpm2_readpublic", "-c", TRANSIENT), "the loaded object too");
    }

    @Test
    void aDeviceRemovedBeforeItsFrontendConnectedLeavesNoSwtpmAndNoFolder() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = inUse(uuid);
        g.shutdown(ShutdownReason.POWEROFF);
        assertEquals(EndKind.SHUTDOWN, awaitEnded(host, uuid).lastEnd());
        awaitGone(g);
        long generation = GuestTpm.stored(host, uuid).generation();

        Guest created = host.create(uuid, false);
        long early = earlySwtpm(created, uuid);
        created.destroy(); // xl destroy of the paused domain: the device goes before its frontend ever probed

        ProgressWait.await("the swtpm spawned at InitWait stopped", () -> !alive(early), () -> "pid " + early + " alive");
        ProgressWait.await("its folder removed", () -> !Files.exists(folder(uuid)), () -> folder(uuid) + " exists");
        assertEquals(generation, GuestTpm.stored(host, uuid).generation(), "nothing saved: it never had state");

        Guest next = host.boot(uuid); // the lease was let go: the vTPM starts as ever
        assertEquals(NV_TEXT, readNvText(next, NV_INDEX, NV_TEXT.length()));
    }
}
