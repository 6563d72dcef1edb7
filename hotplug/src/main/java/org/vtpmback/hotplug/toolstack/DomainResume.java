package org.vtpmback.hotplug.toolstack;

import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;

/**
 * {@code vtpmback restore} and {@code vtpmback resume-domain}: stock {@code xl} 4.17 plus the
 * {@link ResumeSignal}, so the restored (or migrated-in) domain's vTPM resumes its suspend snapshot.
 *
 * <p>restore: {@code xl list}, {@code xl restore -p ...} (the domain stays paused, so its frontends
 * cannot connect yet), {@code xl list} again to find the new domain, mark {@code resume}, then
 * {@code xl unpause}. It never destroys anything: on a failure it says what state the domain is in and
 * what to run next.
 */
public final class DomainResume {
    private static final Pattern LIST_LINE = Pattern.compile("^(\\S+)\\s+(\\d+)\\s+\\d+\\s+\\d+\\s+(\\S+)");

    private final Xl xl;
    private final XenStore store;
    private final int backendDomid;
    private final PrintStream out;

    /** The result: exit status (0 success, 1 failure) and, on failure, the message for stderr. */
    public record Outcome(int status, String message) {
        static Outcome ok() {
            return new Outcome(0, "");
        }

        static Outcome failed(String message) {
            return new Outcome(1, message);
        }
    }

    public DomainResume(Xl xl, XenStore store, int backendDomid, PrintStream out) {
        this.xl = xl;
        this.store = store;
        this.backendDomid = backendDomid;
        this.out = out;
    }

    /** {@code xl restore -p <xlArgs>}, mark, unpause. {@code xlArgs}: xl restore's options and files, as given. */
    public Outcome restore(List<String> xlArgs) throws InterruptedException {
        Map<Integer, String> before;
        try {
            before = list();
        } catch (IOException e) {
            return Outcome.failed(e.getMessage() + "; nothing was restored");
        }
        List<String> args = new ArrayList<>(List.of("restore"));
        if (!xlArgs.contains("-p")) {
            args.add("-p"); // paused: the frontends must not connect before resume is set
        }
        args.addAll(xlArgs);
        Xl.Result restored;
        try {
            out.println("running: " + "xl " + String.join(" ", args));
            restored = xl.run(args);
        } catch (IOException e) {
            return Outcome.failed(e.getMessage() + "; nothing was restored");
        }
        printOutput(restored);
        Map<Integer, String> after;
        try {
            after = list();
        } catch (IOException e) {
            return Outcome.failed("xl restore " + (restored.ok() ? "succeeded" : "failed (exit " + restored.exitCode() + ")")
                    + " but listing the domains failed: " + e.getMessage() + ". If xl restore created a domain it is"
                    + " paused: find it with 'xl list' and run 'vtpmback resume-domain <domid>'.");
        }
        Map<Integer, String> created = new LinkedHashMap<>(after);
        created.keySet().removeAll(before.keySet());
        if (!restored.ok()) {
            return Outcome.failed("xl restore failed (exit " + restored.exitCode() + "): " + restored.output()
                    + (created.isEmpty() ? "\nNo new domain exists; nothing was changed."
                            : "\nNew domain(s) now exist: " + describe(created) + " (left as they are, paused;"
                                    + " 'xl destroy <domid>' removes a broken one)."));
        }
        if (created.size() != 1) {
            return Outcome.failed("xl restore succeeded, but " + (created.isEmpty() ? "no new domain appeared in 'xl list'"
                    : "several domains appeared meanwhile: " + describe(created)) + ". The restored domain is paused and"
                    + " its vTPM not yet marked for resume: find it with 'xl list' and run 'vtpmback resume-domain <domid>'.");
        }
        Map.Entry<Integer, String> domain = created.entrySet().iterator().next();
        return markAndUnpause(domain.getKey(), domain.getValue(), "restored");
    }

    /** The receiving side of {@code xl migrate -p}: mark the paused domain's vTPMs for resume and unpause it. */
    public Outcome resumeDomain(String domidOrName) throws InterruptedException {
        int domid;
        String name;
        try {
            if (domidOrName.matches("\\d+")) {
                domid = Integer.parseInt(domidOrName);
                name = list().get(domid);
                if (name == null) {
                    return Outcome.failed("no domain " + domid + " in 'xl list'; nothing was changed");
                }
            } else {
                Xl.Result r = xl.run(List.of("domid", domidOrName));
                if (!r.ok() || !r.stdout().strip().matches("\\d+")) {
                    return Outcome.failed("'xl domid " + domidOrName + "' failed (exit " + r.exitCode() + "): " + r.output()
                            + "; nothing was changed");
                }
                domid = Integer.parseInt(r.stdout().strip());
                name = domidOrName;
            }
        } catch (IOException e) {
            return Outcome.failed(e.getMessage() + "; nothing was changed");
        }
        return markAndUnpause(domid, name, "received");
    }

    private Outcome markAndUnpause(int domid, String name, String what) throws InterruptedException {
        String dom = "domain " + domid + " (" + name + ")";
        List<ResumeSignal.Marked> marked;
        try {
            marked = ResumeSignal.mark(store, backendDomid, domid);
        } catch (RuntimeException e) {
            return Outcome.failed(dom + " is " + what + " and PAUSED, but setting resume in xenstore failed: " + e.getMessage()
                    + ". Retry with 'vtpmback resume-domain " + domid + "'; 'xl unpause " + domid + "' instead would boot its"
                    + " vTPM clear (PCRs reset; keys and NV kept). The suspend snapshot stays stored until a resume uses it.");
        }
        if (marked.isEmpty()) {
            return Outcome.failed(dom + " is " + what + " and PAUSED, but it has no vtpm device served by backend domain "
                    + backendDomid + " (" + ResumeSignal.backendsOf(backendDomid, domid) + "); nothing was marked. If it has"
                    + " no vTPM, run 'xl unpause " + domid + "'; if its vTPM has another backend, set backend-domid.");
        }
        for (ResumeSignal.Marked m : marked) {
            out.println("marked for resume: " + m);
            if (m.state() != XenbusState.INIT_WAIT) {
                out.println("warning: " + m.backend() + " is in state " + m.state() + ", not InitWait: if its frontend already"
                        + " connected, the vTPM started before the mark and was not resumed");
            }
        }
        Xl.Result unpaused;
        try {
            unpaused = xl.run(List.of("unpause", Integer.toString(domid)));
        } catch (IOException e) {
            unpaused = new Xl.Result("xl unpause " + domid, -1, "", e.getMessage());
        }
        if (!unpaused.ok()) {
            return Outcome.failed(dom + " is " + what + " and PAUSED with resume set on " + marked.size() + " vtpm device(s),"
                    + " but 'xl unpause " + domid + "' failed (exit " + unpaused.exitCode() + "): " + unpaused.output()
                    + ". Run 'xl unpause " + domid + "' to let it run; its vTPM will resume.");
        }
        out.println(dom + " " + what + " and unpaused; its vTPM resumes its suspend snapshot when the guest reconnects");
        return Outcome.ok();
    }

    /** {@code xl list}: domid → name. */
    Map<Integer, String> list() throws IOException, InterruptedException {
        Xl.Result r = xl.run(List.of("list"));
        if (!r.ok()) {
            throw new IOException("'xl list' failed (exit " + r.exitCode() + "): " + r.output());
        }
        return parseList(r.stdout());
    }

    /** Parses {@code xl list} output (header line, then "Name ID Mem VCPUs State Time(s)" rows). */
    public static Map<Integer, String> parseList(String text) {
        Map<Integer, String> domains = new LinkedHashMap<>();
        for (String line : text.split("\n")) {
            Matcher m = LIST_LINE.matcher(line.strip());
            if (m.find() && !line.startsWith("Name")) {
                domains.put(Integer.parseInt(m.group(2)), m.group(1));
            }
        }
        return domains;
    }

    private static String describe(Map<Integer, String> domains) {
        List<String> parts = new ArrayList<>();
        domains.forEach((id, name) -> parts.add(id + " (" + name + ")"));
        return String.join(", ", parts);
    }

    private void printOutput(Xl.Result r) {
        if (!r.stdout().isBlank()) {
            out.print(r.stdout().endsWith("\n") ? r.stdout() : r.stdout() + "\n");
        }
        if (!r.stderr().isBlank()) {
            out.print(r.stderr().endsWith("\n") ? r.stderr() : r.stderr() + "\n");
        }
    }
}
