package org.vtpmback.test.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vtpmback.test.lifecycle.GuestTpm.ZERO32;
import static org.vtpmback.test.lifecycle.GuestTpm.awaitEnded;
import static org.vtpmback.test.lifecycle.GuestTpm.extend;
import static org.vtpmback.test.lifecycle.GuestTpm.pcr;
import static org.vtpmback.test.lifecycle.GuestTpm.sha256Hex;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.vtpmback.hotplug.toolstack.DomainResume;
import org.vtpmback.hotplug.toolstack.ProcessXl;
import org.vtpmback.test.host.CliRun;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.test.host.UseSimulatedHost;
import org.vtpmback.test.xenstored.XenstoredDaemon;

/**
 * {@code vtpmback restore} and {@code vtpmback resume-domain} against a fake {@code xl} (a shell
 * script that logs its arguments and prints what xl 4.17 prints; no Xen here), a real xenstored and
 * the real daemon: the command sequence, the resume mark, and what the vTPM does once the domain
 * runs. The domain the fake "restores" is created beforehand by the simulated toolstack, paused, as
 * {@code xl restore -p} would create it.
 */
@UseSimulatedHost
@Timeout(240)
class RestoreWithStockXlTest {
    @RegisterExtension
    final LogCapture logs = new LogCapture();
    XenstoredDaemon xsd;
    SimulatedVtpmHost host;
    Path work;
    Path xlDir;

    @BeforeEach
    void start(XenstoredDaemon xsd, SimulatedVtpmHost host) throws Exception {
        this.xsd = xsd;
        this.host = host;
        this.work = host.work();
        xlDir = Files.createDirectories(work.resolve("fake-bin"));
        Path xl = xlDir.resolve("xl");
        try (InputStream in = getClass().getResourceAsStream("fake-xl.sh")) {
            Files.write(xl, in.readAllBytes());
        }
        Files.setPosixFilePermissions(xl, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    private void domains(Guest... guests) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (Guest g : guests) {
            sb.append(g.domid()).append(" guest-").append(g.domid()).append('\n');
        }
        Files.writeString(xlDir.resolve("domains"), sb.toString());
    }

    private List<String> calls() throws Exception {
        Path log = xlDir.resolve("calls.log");
        return Files.exists(log) ? Files.readAllLines(log) : List.of();
    }

    private Optional<String> resumeKey(Guest g) {
        return host.xenstore().read(host.toolstack().backendPath(g.domid(), 0).child("resume"));
    }

    /** {@code vtpmback <args>} in its own JVM with the fake xl first in PATH: xl is found the way the real one would be. */
    private CliRun vtpmback(String... args) throws Exception {
        List<String> cmd = CliRun.command(args[0], List.of("xenstored-socket=" + xsd.socket(), "backend-domid="
                + SimulatedVtpmHost.BACKEND_DOMID, "state-dir=" + work.resolve("cli-state"), "runtime-dir=" + work.resolve("cli-run"),
                "log-level=warn"));
        cmd.addAll(List.of(args).subList(1, args.length));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        Map<String, String> env = pb.environment();
        env.putAll(xsd.clientEnvironment());
        env.put("PATH", xlDir + ":" + env.getOrDefault("PATH", "/usr/bin:/bin"));
        return CliRun.run(pb, Duration.ofSeconds(60), String.join(" ", args));
    }

    @Test
    void restoreRunsXlRestorePausedMarksResumeAndUnpauses() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest g = host.boot(uuid);
        String pcr16 = extend(g, 16, ZERO32, sha256Hex("before xl save"));
        g.suspend(); // xl save
        awaitEnded(host, uuid);

        Guest restored = host.create(uuid, false); // what xl restore -p leaves: paused, resume = False
        domains(restored);
        CliRun r = vtpmback("restore", "-e", "/etc/xen/guest.cfg", "/var/lib/xen/save/guest.save");
        assertEquals(0, r.status(), r.err());
        assertEquals(List.of("list", "restore -p -e /etc/xen/guest.cfg /var/lib/xen/save/guest.save", "list",
                "unpause " + restored.domid()), calls());
        assertEquals(Optional.of("True"), resumeKey(restored));
        assertTrue(r.out().contains("marked for resume: " + host.toolstack().backendPath(restored.domid(), 0)), r.out());
        assertTrue(r.out().contains("domain " + restored.domid() + " (guest-" + restored.domid() + ") restored and unpaused"), r.out());

        int mark = logs.size();
        restored.unpause(); // what the real xl unpause lets happen: the frontend reconnects
        assertEquals(1, logs.since(mark, "start mode RESTORE").size(), logs.since(mark, "start mode").toString());
        assertEquals(pcr16, pcr(restored, 16));
        assertEquals(Optional.of("False"), resumeKey(restored), "consumed");
    }

    @Test
    void resumeDomainByNameIsTheReceivingSideOfXlMigrateP() throws Exception {
        String uuid = UUID.randomUUID().toString();
        Guest source = host.boot(uuid);
        String pcr16 = extend(source, 16, ZERO32, sha256Hex("before xl migrate -p"));
        Guest destination = host.create(uuid, false); // xl migrate -p: the destination stays paused
        source.suspend();
        awaitEnded(host, uuid);
        Files.createFile(xlDir.resolve("listed"));
        domains(destination);

        CliRun r = vtpmback("resume-domain", "guest-" + destination.domid());
        assertEquals(0, r.status(), r.err());
        assertEquals(List.of("domid guest-" + destination.domid(), "unpause " + destination.domid()), calls());
        destination.unpause();
        assertEquals(pcr16, pcr(destination, 16));
    }

    /** In-process runs of the same code against the script, for the failure paths. */
    private DomainResume.Outcome inProcess(boolean restore, String... args) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        DomainResume d = new DomainResume(new ProcessXl(xlDir.resolve("xl").toString()), host.xenstore(),
                SimulatedVtpmHost.BACKEND_DOMID, new PrintStream(out, true, StandardCharsets.UTF_8));
        DomainResume.Outcome o = restore ? d.restore(List.of(args)) : d.resumeDomain(args[0]);
        System.out.println(out.toString(StandardCharsets.UTF_8) + "-> " + o);
        return o;
    }

    @Test
    void aFailedXlRestoreChangesNothing() throws Exception {
        Files.writeString(xlDir.resolve("restore-rc"), "1");
        Files.writeString(xlDir.resolve("domains"), "");
        DomainResume.Outcome o = inProcess(true, "/x/guest.save");
        assertEquals(1, o.status());
        assertTrue(o.message().contains("xl restore failed (exit 1)") && o.message().contains("No new domain exists; nothing was changed"),
                o.message());
        assertEquals(List.of("list", "restore -p /x/guest.save", "list"), calls());
    }

    @Test
    void aFailedUnpauseSaysTheDomainIsPausedWithResumeSet() throws Exception {
        Guest restored = host.create(UUID.randomUUID().toString(), false);
        domains(restored);
        Files.writeString(xlDir.resolve("unpause-rc"), "1");
        DomainResume.Outcome o = inProcess(true, "-p", "/x/guest.save");
        assertEquals(1, o.status());
        assertTrue(o.message().contains("is restored and PAUSED with resume set on 1 vtpm device(s)"), o.message());
        assertTrue(o.message().contains("Run 'xl unpause " + restored.domid() + "'"), o.message());
        assertEquals("restore -p /x/guest.save", calls().get(1), "-p is not given twice");
        assertEquals(Optional.of("True"), resumeKey(restored));
    }

    @Test
    void aDomainWithoutAVtpmIsLeftPaused() throws Exception {
        Files.writeString(xlDir.resolve("domains"), "4242 plain-guest\n");
        DomainResume.Outcome o = inProcess(true, "/x/plain.save");
        assertEquals(1, o.status());
        assertTrue(o.message().contains("domain 4242 (plain-guest) is restored and PAUSED, but it has no vtpm device"), o.message());
        assertFalse(calls().stream().anyMatch(c -> c.startsWith("unpause")), calls().toString());
    }

    @Test
    void twoNewDomainsAreNotGuessedBetween() throws Exception {
        Files.writeString(xlDir.resolve("domains"), "51 a\n52 b\n");
        DomainResume.Outcome o = inProcess(true, "/x/a.save");
        assertEquals(1, o.status());
        assertTrue(o.message().contains("several domains appeared meanwhile: 51 (a), 52 (b)")
                && o.message().contains("vtpmback resume-domain <domid>"), o.message());
        DomainResume.Outcome unknown = inProcess(false, "nosuch");
        assertTrue(unknown.message().contains("Can't get domid of domain name 'nosuch'"), unknown.message());
    }
}
