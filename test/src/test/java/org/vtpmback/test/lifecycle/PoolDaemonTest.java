package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.hotplug.cli.Main;
import org.vtpmback.test.host.DaemonProcess;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.xenstored.UseXenstored;
import org.vtpmback.test.xenstored.XenstoredDaemon;

/**
 * The pool of ready-made TPMs in {@code vtpmback daemon} as an operator runs it ({@code manufacture-pool}, its
 * own process): it fills, {@code vtpmback list} does not show it, a restart and a reload keep its entries and
 * the next daemon hands them out, and a stop or reload while an entry is being made leaves only whole entries.
 */
@UseXenstored
@Timeout(600)
class PoolDaemonTest {
    private static final Duration FILL = Duration.ofSeconds(180);
    private static final Pattern FROM_POOL = Pattern.compile("vTPM ([0-9a-f-]{36}): from the pool of ready-made TPMs \\(TPM2 entry ([0-9a-f-]{36})\\)");

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path work;
    private DaemonProcess daemon;
    private SimulatedVtpmHost host;

    @AfterEach
    void stop() throws Exception {
        if (host != null) {
            host.close();
        }
        if (daemon != null) {
            daemon.close();
        }
    }

    private DaemonProcess startDaemon(XenstoredDaemon xsd) throws Exception {
        return DaemonProcess.start(xsd.socket(), work.resolve("sim"), work.resolve("daemon"), "manufacture-pool=2");
    }

    private Path poolDir() {
        return work.resolve("daemon/state/pool");
    }

    private List<String> entries() throws Exception {
        if (!Files.isDirectory(poolDir())) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(poolDir())) {
            return files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(InstanceStore.SUFFIX))
                    .map(n -> n.substring(0, n.length() - InstanceStore.SUFFIX.length())).sorted().toList();
        }
    }

    private void awaitEntries(int n) throws Exception {
        long deadline = System.nanoTime() + FILL.toNanos();
        while (entries().size() < n) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("pool at " + entries() + " after " + FILL + "; log:\n" + daemon.log());
            }
            Thread.sleep(50);
        }
    }

    /** Every stored entry opens with the master key, as a TPM 2.0 (none half-written). */
    private void assertWhole(List<String> ids) throws Exception {
        InstanceStore pool = InstanceStore.shared(poolDir(), MasterKey.load(work.resolve("daemon/state/master.key")));
        for (String id : ids) {
            InstanceRecord r = pool.load(Uuid.parse(id)).orElseThrow();
            assertEquals(TpmFamily.TPM2, r.family());
            assertEquals(InstanceRecord.EndKind.NEW, r.lastEnd());
        }
    }

    private String list() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int rc = Main.run(new String[] {"list", "--json", "--set", "state-dir=" + work.resolve("daemon/state"), "--set",
            "runtime-dir=" + work.resolve("daemon/run"), "--set", "master-key=" + work.resolve("daemon/state/master.key")},
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        assertEquals(0, rc);
        return out.toString(StandardCharsets.UTF_8);
    }

    /** The entry the first start of {@code uuid} took, from the daemon's log. */
    private String entryTakenBy(String uuid) throws Exception {
        Matcher m = FROM_POOL.matcher(daemon.log());
        while (m.find()) {
            if (m.group(1).equals(uuid)) {
                return m.group(2);
            }
        }
        throw new AssertionError("no 'from the pool' line for " + uuid + "; log:\n" + daemon.log());
    }

    @Test
    void thePoolFillsIsNotListedAndOutlivesARestartAndAReload(XenstoredDaemon xsd) throws Exception {
        daemon = startDaemon(xsd);
        host = new SimulatedVtpmHost(xsd.socket(), Files.createDirectories(work.resolve("guests")), work.resolve("sim"));
        awaitEntries(2);
        List<String> made = entries();
        assertWhole(made);
        assertEquals("{\"vtpms\":[]}", list().strip(), "the ready-made TPMs are no vTPMs");

        daemon.stop(); // SIGTERM, as systemctl restart
        daemon = startDaemon(xsd);
        assertTrue(daemon.log().contains("pool of ready-made TPMs in " + poolDir() + ": TPM2 2 of 2 ready"), daemon.log());
        String first = UUID.randomUUID().toString();
        host.boot(first);
        assertTrue(made.contains(entryTakenBy(first)), "the restarted daemon hands out what the last one made");
        assertTrue(list().contains(first) && made.stream().noneMatch(list()::contains), list());

        daemon = daemon.reload(); // SIGHUP: most likely while the taken entry is being made again
        awaitEntries(2);
        assertWhole(entries());
        String second = UUID.randomUUID().toString();
        host.boot(second);
        String taken = entryTakenBy(second);
        assertTrue(!taken.equals(entryTakenBy(first)), "an entry is taken once");
        assertTrue(!entries().contains(taken) && !entries().contains(entryTakenBy(first)), "taken entries are gone: " + entries());
        awaitEntries(2);
        assertWhole(entries());
    }
}
