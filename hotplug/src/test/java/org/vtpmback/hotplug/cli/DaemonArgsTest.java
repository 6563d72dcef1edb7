package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@link DaemonArgs} gives exactly what picocli's parse gives, and leaves everything else to picocli. */
class DaemonArgsTest {
    private final PrintStream out = new PrintStream(new ByteArrayOutputStream());
    private final PrintStream err = new PrintStream(new ByteArrayOutputStream());

    private static final List<String[]> RECOGNISED = List.of(
            new String[] {"daemon"},
            new String[] {"daemon", "--config", "/etc/vtpmback/other.conf"},
            new String[] {"daemon", "--config", "relative/name.conf"},
            new String[] {"daemon", "--config", "@not-expanded"},
            new String[] {"daemon", "--set", "host=simulated"},
            new String[] {"daemon", "--set", "log-level=debug", "--set", "a=b=c", "--set", "k= spaced value "},
            new String[] {"daemon", "--set", "x=1", "--config", "f.conf", "--set", "y="},
            new String[] {"daemon", "--set", "x=1", "--set", "x=2"});

    private static final List<String[]> LEFT_TO_PICOCLI = List.of(
            new String[] {},
            new String[] {"check"},
            new String[] {"daemon", "--help"},
            new String[] {"daemon", "-h"},
            new String[] {"daemon", "--set", "a=b", "--help"},
            new String[] {"daemon", "--set=a=b"},
            new String[] {"daemon", "--config=f"},
            new String[] {"daemon", "--config"},
            new String[] {"daemon", "--config", "a", "--config", "b"},
            new String[] {"daemon", "--config", ""},
            new String[] {"daemon", "--config", "nul\0inside"},
            new String[] {"daemon", "--set", "noequals"},
            new String[] {"daemon", "--set", "=value"},
            new String[] {"daemon", "--set", "-x=1"},
            new String[] {"daemon", "--set", "--config"},
            new String[] {"daemon", "--bogus", "x"},
            new String[] {"daemon", "extra", "word"},
            new String[] {"Daemon"});

    @Test
    void recognisedFormsGiveWhatPicocliGives() {
        for (String[] args : RECOGNISED) {
            Optional<Invocation> fast = DaemonArgs.parse(args, out, err, Lifecycle.JVM);
            assertTrue(fast.isPresent(), String.join(" ", args));
            assertEquals(viaPicocli(VtpmbackCommand::daemonOnly, args), fast.get(), String.join(" ", args));
            assertEquals(viaPicocli(VtpmbackCommand::commandLine, args), fast.get(), String.join(" ", args));
        }
    }

    @Test
    void everythingElseGoesToPicocli() {
        for (String[] args : LEFT_TO_PICOCLI) {
            assertEquals(Optional.empty(), DaemonArgs.parse(args, out, err, Lifecycle.JVM), String.join(" ", args));
        }
    }

    /** The invocation the daemon command would run with after picocli's parse of {@code args}. */
    private Invocation viaPicocli(java.util.function.Function<VtpmbackCommand, CommandLine> tree, String[] args) {
        CommandLine cl = tree.apply(new VtpmbackCommand(out, err, Lifecycle.JVM));
        CommandLine.ParseResult parsed = cl.parseArgs(args);
        ServiceCommands.Daemon daemon = (ServiceCommands.Daemon) parsed.subcommand().commandSpec().userObject();
        return daemon.invocation(List.of(), Map.of());
    }
}
