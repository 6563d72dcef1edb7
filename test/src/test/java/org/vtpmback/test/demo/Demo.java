package org.vtpmback.test.demo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;
import org.vtpmback.xen.ShutdownReason;

/**
 * The guest side of {@code scripts/demo.sh}: plays libxl and a Linux guest against a vtpmback daemon
 * running in another process (host = simulated), and checks what an operator cares about: first boot
 * manufactures, a reboot keeps NV and resets PCRs, a save and restore keeps PCRs. Exits 1 if any check
 * fails.
 *
 * <p>Usage: {@code Demo <xenstored-socket> <simulation-dir> <work-dir>}
 */
public final class Demo {
    private static final String NV_INDEX = "0x1500016";
    private static int step;

    private Demo() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Demo <xenstored-socket> <simulation-dir> <work-dir>");
            System.exit(2);
        }
        Path work = Files.createDirectories(Path.of(args[2]));
        String uuid = UUID.randomUUID().toString();
        try (SimulatedVtpmHost host = new SimulatedVtpmHost(Path.of(args[0]), work, Path.of(args[1]))) {
            say("xl create: a guest with vtpm = [\"backend=0,uuid=" + uuid + "\"] (first start: vtpmback manufactures it)");
            Guest guest = host.boot(uuid);
            show("domain " + guest.domid() + ": tpm2_getrandom 8", guest.tpm2("tpm2_getrandom", "8", "--hex"));
            Path secret = work.resolve("secret.txt");
            Files.writeString(secret, "kept across reboots");
            guest.tpm2("tpm2_nvdefine", NV_INDEX, "-C", "o", "-s", "19", "-a", "ownerread|ownerwrite");
            guest.tpm2("tpm2_nvwrite", NV_INDEX, "-C", "o", "-i", secret.toString());
            guest.tpm2("tpm2_pcrextend", "16:sha256=" + "ab".repeat(32));
            String pcrBefore = pcr16(guest);
            show("wrote NV " + NV_INDEX + " and extended PCR 16", pcrBefore);

            say("guest reboots (xl: destroy, create again as a new domain with the same vTPM uuid)");
            guest.shutdown(ShutdownReason.REBOOT);
            guest = host.boot(uuid);
            String nv = readNv(guest, work);
            String pcrAfterReboot = pcr16(guest);
            show("domain " + guest.domid() + ": NV " + NV_INDEX, nv);
            show("domain " + guest.domid() + ": PCR 16", pcrAfterReboot);
            check("NV data survived the reboot", nv.equals("kept across reboots"));
            check("PCR 16 was reset by the reboot", pcrAfterReboot.contains("0x" + "0".repeat(64)));

            guest.tpm2("tpm2_pcrextend", "16:sha256=" + "cd".repeat(32));
            String pcrAtSave = pcr16(guest);
            say("xl save, then vtpmback restore (xl restore -p, resume = True, unpause)");
            guest.suspend();
            guest = host.boot(uuid, true);
            String pcrRestored = pcr16(guest);
            show("domain " + guest.domid() + ": PCR 16 after restore", pcrRestored);
            check("PCR 16 is exactly as at save", pcrRestored.equals(pcrAtSave));

            say("guest powers off");
            guest.shutdown(ShutdownReason.POWEROFF);
        }
        say("all checks passed; the vTPM's sealed state file is in the daemon's state-dir/instances/" + uuid + ".vtpm");
    }

    private static String pcr16(Guest guest) throws Exception {
        return guest.tpm2("tpm2_pcrread", "sha256:16").trim();
    }

    private static String readNv(Guest guest, Path work) throws Exception {
        Path out = work.resolve("nv-read.bin");
        guest.tpm2("tpm2_nvread", NV_INDEX, "-C", "o", "-s", "19", "-o", out.toString());
        return Files.readString(out);
    }

    private static void say(String what) {
        System.out.printf("%n[%d] %s%n", ++step, what);
    }

    private static void show(String what, String output) {
        System.out.printf("    %s:%n", what);
        output.trim().lines().forEach(l -> System.out.println("      " + l));
    }

    private static void check(String what, boolean ok) {
        System.out.println("    " + (ok ? "OK   " : "FAIL ") + what);
        if (!ok) {
            System.exit(1);
        }
    }
}
