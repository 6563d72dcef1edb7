package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

/**
 * Build-time tool ({@code packaging/pom.xml}): writes {@code vtpmback.8.adoc} (AsciiDoc for asciidoctor's
 * manpage backend) and the bash completion {@code vtpmback.bash} from {@link VtpmbackCommand}, the same
 * definitions that parse the command line, so the manual cannot drift from {@code --help}.
 *
 * <p>One page in section 8 (system administration) with a section per command, where picocli-codegen's
 * ManPageGenerator would write one section-1 page per command.
 */
public final class Manuals {
    static final String SECTION = "8";

    private Manuals() {
    }

    /** {@code Manuals <output folder>}. */
    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: Manuals <output folder>");
            System.exit(Main.USAGE);
        }
        Path dir = Files.createDirectories(Path.of(args[0]));
        CommandLine cl = VtpmbackCommand.commandLine(new VtpmbackCommand());
        Files.writeString(dir.resolve(Main.PROGRAM + "." + SECTION + ".adoc"), manPage(cl), StandardCharsets.UTF_8);
        // bash sources a completion file: Debian's policy (lintian bash-completion-with-hashbang) wants no #! line
        String completion = AutoComplete.bash(Main.PROGRAM, cl).replaceFirst("\\A#![^\n]*\n", "");
        Files.writeString(dir.resolve(Main.PROGRAM + ".bash"), completion, StandardCharsets.UTF_8);
    }

    /** The AsciiDoc source of vtpmback(8). */
    static String manPage(CommandLine cl) {
        CommandSpec root = cl.getCommandSpec();
        List<String> a = new ArrayList<>();
        a.add("= " + Main.PROGRAM + "(" + SECTION + ")");
        a.add(":doctype: manpage");
        a.add(":manmanual: vtpmback manual");
        a.add(":mansource: vtpmback " + Version.get());
        a.add("");
        a.add("== NAME");
        a.add("");
        // asciidoctor takes the NAME line as plain text (it is also whatis(1)'s entry): no pass macro there
        a.add(Main.PROGRAM + " - " + String.join(" ", root.usageMessage().header()).replaceFirst("\\.$", ""));
        a.add("");
        a.add("== SYNOPSIS");
        a.add("");
        a.add("*" + Main.PROGRAM + "* _command_ [_options_] [_arguments_]");
        a.add("");
        a.add("*" + Main.PROGRAM + "* *--help* | *--version*");
        a.add("");
        a.add("== DESCRIPTION");
        a.add("");
        paragraphs(a, root.usageMessage().description());
        a.add("== OPTIONS");
        a.add("");
        options(a, root);
        a.add("== COMMANDS");
        a.add("");
        for (CommandLine sub : cl.getSubcommands().values()) {
            CommandSpec c = sub.getCommandSpec();
            if (c.userObject() instanceof CommandLine.HelpCommand) {
                a.add("=== " + Main.PROGRAM + " help [_command_]");
                a.add("");
                a.add("Prints the help of " + Main.PROGRAM + ", or of _command_; the same as *--help*.");
                a.add("");
                continue;
            }
            a.add("=== " + Main.PROGRAM + " " + c.name());
            a.add("");
            a.add(synopsis(c));
            a.add("");
            paragraphs(a, new String[] {capitalised(String.join(" ", c.usageMessage().header())) + "."});
            paragraphs(a, c.usageMessage().description());
            for (PositionalParamSpec p : c.positionalParameters()) {
                a.add("_" + p.paramLabel() + "_::");
                a.add(text(String.join(" ", p.description())));
            }
            options(a, c);
        }
        a.add("== EXIT STATUS");
        a.add("");
        root.usageMessage().exitCodeList().forEach((code, meaning) -> {
            a.add("*" + code.strip() + "*::");
            a.add(text(meaning));
        });
        a.add("");
        a.add("== FILES");
        a.add("");
        a.add("_/etc/vtpmback/vtpmback.conf_::");
        a.add("The configuration, see *vtpmback.conf*(5).");
        a.add("_/var/lib/vtpmback_::");
        a.add("The default state-dir: the sealed vTPM records and the master key. Back it up; purging the package"
                + " leaves it in place.");
        a.add("_/run/vtpmback_::");
        a.add("The default runtime-dir: swtpm's sockets, logs and the running vTPMs' working state.");
        a.add("");
        a.add("== SEE ALSO");
        a.add("");
        a.add("*vtpmback.conf*(5), *swtpm*(8), *xl*(1), *xl.cfg*(5), *systemd.service*(5),"
                + " _/usr/share/doc/vtpmback/README.md_");
        return String.join("\n", a) + "\n";
    }

    private static String synopsis(CommandSpec c) {
        StringBuilder sb = new StringBuilder("*" + Main.PROGRAM + " " + c.name() + "*");
        for (OptionSpec o : sorted(c)) {
            if (!o.hidden()) {
                sb.append(" [*").append(o.longestName()).append("*").append(o.arity().max() > 0 ? "=_" + o.paramLabel() + "_" : "")
                        .append("]").append(o.isMultiValue() ? "..." : "");
            }
        }
        for (PositionalParamSpec p : c.positionalParameters()) {
            sb.append(" ").append(p.arity().min() == 0 ? "[" : "").append("_").append(p.paramLabel()).append("_")
                    .append(p.arity().min() == 0 ? "]" : "").append(p.isMultiValue() ? "..." : "");
        }
        return sb.toString();
    }

    private static void options(List<String> a, CommandSpec c) {
        for (OptionSpec o : sorted(c)) {
            if (o.hidden()) {
                continue;
            }
            List<String> names = new ArrayList<>();
            for (String n : o.names()) {
                names.add("*" + n + "*" + (o.arity().max() > 0 ? "=_" + o.paramLabel() + "_" : ""));
            }
            a.add(String.join(", ", names) + "::");
            a.add(text(description(o)));
        }
        a.add("");
    }

    /** As {@code --help} lists them: by name. */
    private static List<OptionSpec> sorted(CommandSpec c) {
        List<OptionSpec> options = new ArrayList<>(c.options());
        options.sort(java.util.Comparator.comparing(o -> o.longestName().replaceFirst("^-+", "")));
        return options;
    }

    private static String description(ArgSpec arg) {
        return capitalised(String.join(" ", arg.description()));
    }

    private static void paragraphs(List<String> a, String[] lines) {
        StringBuilder p = new StringBuilder();
        for (String line : lines) {
            if (line.isBlank()) {
                flush(a, p);
            } else {
                p.append(p.length() == 0 ? "" : " ").append(line);
            }
        }
        flush(a, p);
    }

    private static void flush(List<String> a, StringBuilder p) {
        if (p.length() > 0) {
            a.add(text(p.toString()));
            a.add("");
            p.setLength(0);
        }
    }

    /**
     * Plain text as AsciiDoc that only escapes (pass:c[]: no markup, attributes or replacements), so
     * {@code <uuid>}, {@code {"vtpms": [...]}} and {@code last_end} reach the page as written.
     */
    static String text(String s) {
        String t = s.replace("%n", " ").strip();
        return t.isEmpty() ? "" : "pass:c[" + t.replace("]", "\\]") + "]";
    }

    private static String capitalised(String s) {
        return s.isEmpty() ? s : Character.toUpperCase(s.charAt(0)) + s.substring(1);
    }
}
