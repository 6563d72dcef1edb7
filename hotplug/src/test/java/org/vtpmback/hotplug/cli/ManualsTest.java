package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.hotplug.config.ConfigLoader;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** The manuals are made from the command definitions and the configuration keys: nothing may be left out. */
class ManualsTest {
    @TempDir
    Path tmp;

    @Test
    void theManPageHasEveryCommandAndOption() throws Exception {
        Manuals.main(new String[] {tmp.toString()});
        String page = Files.readString(tmp.resolve("vtpmback.8.adoc"));
        String completion = Files.readString(tmp.resolve("vtpmback.bash"));
        assertTrue(page.startsWith("= vtpmback(8)\n:doctype: manpage\n"), page);
        assertTrue(!completion.startsWith("#!") && completion.contains("complete -F _complete_vtpmback"), "sourced, not run");
        assertTrue(page.contains("\n== EXIT STATUS\n\n*0*::\n"), page);
        assertTrue(page.contains("\n*78*::\n"), page);
        CommandLine cl = VtpmbackCommand.commandLine(new VtpmbackCommand());
        for (CommandLine sub : cl.getSubcommands().values()) {
            String name = sub.getCommandSpec().name();
            assertTrue(page.contains("\n=== vtpmback " + name), name + " in the man page");
            assertTrue(completion.contains(name), name + " in the completion");
            for (OptionSpec o : sub.getCommandSpec().options()) {
                assertTrue(page.contains("*" + o.longestName() + "*"), name + " " + o.longestName() + " in the man page");
                assertTrue(completion.contains(o.longestName()), name + " " + o.longestName() + " in the completion");
            }
        }
        assertTrue(page.contains("tpm-family.<uuid>"), "the configuration keys, from ConfigLoader");
    }

    /** vtpmback.conf(5) is written by hand next to the keys: a key added to ConfigLoader must get an entry. */
    @Test
    void theConfigManPageHasEveryKey() throws Exception {
        Path source = Path.of(System.getProperty("vtpmback.root", "..")).resolve("hotplug/src/main/man/vtpmback.conf.5.adoc");
        String page = Files.readString(source);
        for (String key : ConfigLoader.keys()) {
            assertTrue(page.contains("\n*" + key + "* = "), key + " in " + source);
        }
        assertTrue(page.contains("\n*" + ConfigLoader.TPM_FAMILY_PREFIX + "*_uuid_ = "), source.toString());
        assertTrue(page.contains("A `+#+` that follows a blank"), "the comment rule ConfigLoader applies");
    }
}
