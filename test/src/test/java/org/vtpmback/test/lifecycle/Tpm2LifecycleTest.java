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
import static org.vtpmback.test.lifecycle.GuestTpm.stored;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;
import org.vtpmback.xen.ShutdownReason;
import org.vtpmback.xenstore.XenbusState;

/**
 * The TPM 2.0 lifecycle on the simulated host (real xenstored, real swtpm, real tpm2-tools): reboot
 * keeps the permanent state and resets PCRs, save/restore through the documented resume path keeps
 * PCRs and loaded objects, and a local migration hands one uuid over between two devices.
 */
@UseSimulatedHost
@Timeout(300)
class Tpm2LifecycleTest {
    private static final String NV_INDEX = "0x1500016";
    private static final String NV_TEXT = "the seed's guest lost this on reboot";
    private static final String PERSISTENT = "0x81000001";

    @RegisterExtension
    final LogCapture logs = new LogCapture();
    SimulatedVtpmHost host;
    Path work;

    @BeforeEach
    void start(SimulatedVtpmHost host) {
        this.host = host;
        this.work = host.work();
    }

    @Test
    void threeRebootsKeepNvAndThePersistentKeyAndResetThePcr() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        // The seed's scenario: NV index, persistent key, extended PCR.
        defineNvText(g, NV_INDEX, 64, NV_TEXT);
        g.tpm2("tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc256", "-c", work.resolve("primary.ctx").toString());
        g.tpm2("tpm2_evictcontrol", "-C", "o", "-c", work.resolve("primary.ctx").toString(), PERSISTENT);
        String keyBefore = g.tpm2("tpm2_readpublic", "-c", PERSISTENT);
        extend(g, 16, ZERO32, sha256Hex("measured before reboot"));
        assertFalse(pcr(g, 16).equals(ZERO32));

        for (int i = 1; i <= 3; i++) {
            long generation = stored(host, uuid).generation();
            g.shutdown(ShutdownReason.REBOOT);
            assertEquals(EndKind.SHUTDOWN, awaitEnded(host, uuid).lastEnd(), "reboot " + i);
            assertTrue(stored(host, uuid).snapshot().isEmpty(), "reboot " + i + ": no snapshot after a shutdown");
            int mark = logs.size();
            g = host.boot(uuid);
            assertEquals(1, logs.since(mark, "start mode CLEAR").size(), logs.since(mark, "start mode").toString());
            assertTrue(stored(host, uuid).generation() > generation);

            assertEquals(NV_TEXT, readNvText(g, NV_INDEX, NV_TEXT.length()), "reboot " + i + ": NV data");
            assertEquals(keyBefore, g.tpm2("tpm2_readpublic", "-c", PERSISTENT), "reboot " + i + ": persistent key");
            assertEquals(ZERO32, pcr(g, 16), "reboot " + i + ": PCR 16 back to zero");
            assertFalse(g.tpm2("tpm2_getcap", "handles-transient").contains(TRANSIENT), "reboot " + i + ": no transient object");
            extend(g, 16, ZERO32, sha256Hex("measured in boot " + i));
        }
    }

    @Test
    void threeSaveRestoreCyclesKeepThePcrAndALoadedObject() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        String pcr16 = extend(g, 16, ZERO32, sha256Hex("kernel"));
        String object = loadTransient(g);

        for (int i = 1; i <= 3; i++) {
            g.suspend();
            assertEquals(EndKind.SUSPENDED, awaitEnded(host, uuid).lastEnd());
            assertTrue(stored(host, uuid).snapshot().isPresent(), "cycle " + i + ": suspend snapshot stored");
            int mark = logs.size();
            g = host.boot(uuid, true); // marks resume through ResumeSignal, as vtpmback restore does
            assertEquals(1, logs.since(mark, "start mode RESTORE").size(), logs.since(mark, "start mode").toString());
            assertEquals(Optional.of("False"), host.xenstore().read(host.toolstack().backendPath(g.domid(), 0).child("resume")),
                    "the backend consumes the resume signal");
            assertTrue(stored(host, uuid).snapshot().isEmpty(), "cycle " + i + ": the snapshot is consumed");

            assertEquals(pcr16, pcr(g, 16), "cycle " + i + ": PCR 16 as at suspend");
            assertEquals(object, g.tpm2("tpm2_readpublic", "-c", TRANSIENT), "cycle " + i + ": transient object still loaded");
            pcr16 = extend(g, 16, pcr16, sha256Hex("after restore " + i));
        }
    }

    @Test
    void localMigrationHandsTheInstanceOverWithoutALockError() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest source = host.boot(uuid);
        String pcr16 = extend(source, 16, ZERO32, sha256Hex("migrating guest"));
        String object = loadTransient(source);
        int mark = logs.size();

        // xl migrate to localhost: the destination domain is created paused with the same uuid, and the
        // restore is marked before it runs; both backend directories exist at once.
        Guest destination = host.create(uuid, true);
        assertTrue(host.daemon().devices().size() >= 2, "two devices of one uuid: " + host.daemon().devices());
        CompletableFuture<Void> unpaused = CompletableFuture.runAsync(() -> {
            try {
                destination.unpause(); // the frontend probes; the backend's connect waits for the lease
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(1500);
        assertFalse(unpaused.isDone(), "the destination must wait while the source holds the vTPM");
        assertEquals(Optional.of(XenbusState.INIT_WAIT), host.toolstack().backendState(destination.domid(), 0));
        assertTrue(source.frontend().isConnected());

        source.suspend(); // suspended, then destroyed as "--migratedaway"
        unpaused.get(60, TimeUnit.SECONDS);
        assertEquals(1, logs.since(mark, "start mode RESTORE").size(), logs.since(mark, "start mode").toString());
        assertEquals(pcr16, pcr(destination, 16));
        assertEquals(object, destination.tpm2("tpm2_readpublic", "-c", TRANSIENT));

        List<String> lockErrors = logs.since(mark, "lock").stream().filter(l -> !l.contains("block")).toList();
        assertEquals(List.of(), lockErrors, "no swtpm lock error in the daemon's log");
        // the logs of running swtpm processes, and those kept in logs/ (a cleanly ended swtpm's log with no error is removed)
        for (Path dir : List.of(work.resolve("run"), work.resolve("run/logs"))) {
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (Stream<Path> files = Files.list(dir)) {
                for (Path log : files.filter(p -> p.toString().endsWith(".log")).toList()) {
                    String text = Files.readString(log);
                    assertFalse(text.toLowerCase().contains("lock"), log + ": " + text);
                }
            }
        }
    }

    /** TPM2_PT_LOCKOUT_COUNTER from tpm2_getcap properties-variable. */
    static int lockoutCounter(Guest g) throws Exception {
        String out = g.tpm2("tpm2_getcap", "properties-variable");
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("TPM2_PT_LOCKOUT_COUNTER:\\s*0x([0-9A-Fa-f]+)").matcher(out);
        assertTrue(m.find(), out);
        return Integer.parseInt(m.group(1), 16);
    }

    /** Uses a DA-protected authorisation (the password of a key without noDA). */
    void useDaProtectedAuth(Guest g, int n) throws Exception {
        g.tpm2("tpm2_create", "-C", "0x81000002", "-P", "secret", "-G", "ecc256", "-u", work.resolve("k" + n + ".pub").toString(),
                "-r", work.resolve("k" + n + ".priv").toString());
    }

    @Test
    void rebootsDoNotCountAsDictionaryAttacksButHardResetsDo() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        g.tpm2("tpm2_createprimary", "-C", "o", "-G", "ecc256", "-p", "secret", "-c", work.resolve("da.ctx").toString());
        g.tpm2("tpm2_evictcontrol", "-C", "o", "-c", work.resolve("da.ctx").toString(), "0x81000002");
        g.tpm2("tpm2_flushcontext", "-t");
        useDaProtectedAuth(g, 0);
        assertEquals(0, lockoutCounter(g));
        for (int i = 1; i <= 4; i++) { // more than MAX_AUTH_FAIL (3) reboots: swtpm trap 5
            g.shutdown(ShutdownReason.REBOOT);
            awaitEnded(host, uuid);
            g = host.boot(uuid);
            assertEquals(0, lockoutCounter(g), "reboot " + i + " counted as a DA failure");
            useDaProtectedAuth(g, i);
        }
        // Sensitivity check: a hard reset (xl destroy, no orderly TPM shutdown) does count, as on hardware.
        g.destroy();
        awaitEnded(host, uuid);
        g = host.boot(uuid);
        assertEquals(1, lockoutCounter(g), "xl destroy is a hard reset");
    }
}
