package org.vtpmback.test.host;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * Prints the tail of each watched daemon's log when a test fails, before its teardown closes them. A failure seen only
 * in CI (a clean clone, its work folders gone) is otherwise just an assertion message; with the daemons' last lines in
 * the build output it can be read without a rerun. Register it as an instance field with {@code @RegisterExtension}.
 */
public final class DaemonLogsOnFailure implements TestExecutionExceptionHandler {
    private static final int TAIL_LINES = 80;
    private final Map<String, DaemonProcess> daemons = new LinkedHashMap<>();

    /** Watches {@code daemon} under {@code name} for the rest of the test (a later daemon of the same name replaces it). */
    public synchronized DaemonProcess watch(String name, DaemonProcess daemon) {
        daemons.put(name, daemon);
        return daemon;
    }

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable failure) throws Throwable {
        synchronized (this) {
            for (Map.Entry<String, DaemonProcess> e : daemons.entrySet()) {
                System.out.printf("---- %s: daemon %s, last %d log lines ----%n%s%n", context.getDisplayName(), e.getKey(),
                        TAIL_LINES, tail(e.getValue()));
            }
        }
        throw failure;
    }

    private static String tail(DaemonProcess daemon) {
        try {
            List<String> lines = daemon.log().lines().toList();
            return String.join("\n", lines.subList(Math.max(0, lines.size() - TAIL_LINES), lines.size()));
        } catch (IOException e) {
            return "(log unreadable: " + e + ")";
        }
    }
}
