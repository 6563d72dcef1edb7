package org.vtpmback.test.systemd;

import com.sun.jdi.Bootstrap;
import com.sun.jdi.ThreadReference;
import com.sun.jdi.VirtualMachine;
import com.sun.jdi.connect.AttachingConnector;
import com.sun.jdi.connect.Connector;
import com.sun.jdi.connect.IllegalConnectorArgumentsException;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Wedges one thread of a daemon JVM from outside, through the debugger interface (JDWP, which the
 * daemon was started with: {@link #JVM_OPTION}): the thread stays alive but makes no progress, as one
 * stuck in a handler or a native call would. No test hook in the daemon's code is needed.
 */
final class ThreadFreezer implements AutoCloseable {
    /** JDWP on a free loopback port; the JVM prints the port to its log ({@link #attach}). */
    static final String JVM_OPTION = "-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=127.0.0.1:0";
    private static final Pattern PORT = Pattern.compile("Listening for transport dt_socket at address: (\\d+)");

    private final VirtualMachine vm;

    private ThreadFreezer(VirtualMachine vm) {
        this.vm = vm;
    }

    /** Attaches to the JVM whose log is {@code log} (it printed its JDWP port there). */
    static ThreadFreezer attach(String log) throws IOException {
        Matcher m = PORT.matcher(log);
        if (!m.find()) {
            throw new IllegalStateException("no JDWP port in the daemon's log");
        }
        AttachingConnector c = Bootstrap.virtualMachineManager().attachingConnectors().stream()
                .filter(a -> a.name().equals("com.sun.jdi.SocketAttach")).findFirst().orElseThrow();
        Map<String, Connector.Argument> args = c.defaultArguments();
        args.get("hostname").setValue("127.0.0.1");
        args.get("port").setValue(m.group(1));
        try {
            return new ThreadFreezer(c.attach(args));
        } catch (IllegalConnectorArgumentsException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Suspends every thread whose name starts with {@code prefix}; returns them (resume them with {@link #thaw}). */
    List<ThreadReference> freeze(String prefix) {
        List<ThreadReference> threads = vm.allThreads().stream().filter(t -> t.name().startsWith(prefix)).toList();
        if (threads.isEmpty()) {
            throw new IllegalStateException("no thread named " + prefix + "* in the daemon");
        }
        threads.forEach(ThreadReference::suspend);
        return threads;
    }

    void thaw(List<ThreadReference> threads) {
        threads.forEach(ThreadReference::resume);
    }

    /** Detaches; the JVM resumes every thread still suspended. */
    @Override
    public void close() {
        vm.dispose();
    }
}
