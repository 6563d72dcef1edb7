package org.vtpmback.hotplug.cli;

import java.io.PrintStream;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.IParameterExceptionHandler;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * A wrong command line: one line {@code vtpmback <command>: what is wrong}, one line saying where the help is,
 * exit status 2. Replaces picocli's default, which prints the whole usage after the message.
 */
final class UsageErrors implements IParameterExceptionHandler {
    private final PrintStream err;

    UsageErrors(PrintStream err) {
        this.err = err;
    }

    @Override
    public int handleParseException(ParameterException e, String[] args) {
        CommandLine where = e.getCommandLine();
        String context = where.getCommandSpec().qualifiedName();
        err.println(Main.errorLine(err, context + ": " + message(e)));
        err.println("Try '" + context + " --help'.");
        return Main.USAGE;
    }

    static String message(ParameterException e) {
        if (!(e instanceof UnmatchedArgumentException u) || u.getUnmatched().isEmpty()) {
            return e.getMessage();
        }
        String arg = u.getUnmatched().get(0);
        boolean root = e.getCommandLine().getParent() == null;
        if (arg.startsWith("-") && arg.length() > 1) {
            return "unknown option '" + arg + "'" + (root ? " (command options go after the command)" : "");
        }
        if (root) {
            List<String> names = e.getCommandLine().getSubcommands().keySet().stream().filter(n -> !n.equals("help")).toList();
            return "unknown command '" + arg + "'; commands: " + String.join(", ", names);
        }
        return "unexpected argument '" + arg + "'";
    }
}
