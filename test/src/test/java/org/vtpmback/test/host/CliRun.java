package org.vtpmback.test.host;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A {@code vtpmback} command run to its end in a JVM of its own, as an operator's shell runs it: its exit status, its
 * standard output and its standard error (read at once, so that neither pipe fills), printed for the test log.
 */
public record CliRun(int status, String out, String err) {

    /** {@code java -cp <this JVM's class path> org.vtpmback.hotplug.cli.Main <command> <settings as --set ...>}. */
    public static List<String> command(String command, List<String> settings) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "org.vtpmback.hotplug.cli.Main", command));
        settings.forEach(setting -> cmd.addAll(List.of("--set", setting)));
        return cmd;
    }

    /** Runs {@code pb} with no input, shown as {@code vtpmback <shown>}; fails the test if it does not end within {@code timeout}. */
    public static CliRun run(ProcessBuilder pb, Duration timeout, String shown) throws IOException, InterruptedException {
        Process p = pb.start();
        p.getOutputStream().close();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Thread t = new Thread(() -> {
            try {
                p.getErrorStream().transferTo(err);
            } catch (IOException e) {
                // the process ended
            }
        });
        t.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS), "vtpmback " + shown + " hung");
        t.join();
        CliRun c = new CliRun(p.exitValue(), out, err.toString(StandardCharsets.UTF_8));
        System.out.println("$ vtpmback " + shown + "   (exit " + c.status() + ")\n" + c.out() + c.err());
        return c;
    }
}
