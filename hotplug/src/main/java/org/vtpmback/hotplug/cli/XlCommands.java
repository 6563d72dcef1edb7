package org.vtpmback.hotplug.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code restore} and {@code resume-domain}: stock xl plus the resume signal ({@link ToolstackCommands}). */
final class XlCommands {
    private XlCommands() {
    }

    @Command(name = "restore", header = "restore a saved domain with stock xl so that its vTPM resumes",
            description = {
                "Runs 'xl restore -p' with the given options and files (xl's own syntax), finds the new domain with"
                        + " 'xl list', sets resume = True on each of its vtpm backends in xenstore (one transaction),"
                        + " then 'xl unpause'. The vTPM then continues from the snapshot taken when the domain was"
                        + " saved: PCRs and loaded objects as they were. Use it instead of 'xl restore' for domains with"
                        + " a vTPM (libxl 4.17 always writes resume = False). It never destroys anything: if a step"
                        + " fails it says what state the domain is in and what to run next. The xl command is 'xl' in"
                        + " PATH."})
    static final class Restore extends ConfiguredCommand {
        @Parameters(arity = "1..*", paramLabel = "<xl-argument>", description = "xl restore's options and files:"
                + " [xl restore options] [<ConfigFile>] <CheckpointFile>")
        List<String> xlArgs = new ArrayList<>();

        @Override
        public Integer call() {
            return execute(ToolstackCommands::restore, xlArgs, Map.of());
        }
    }

    @Command(name = "resume-domain", header = "mark a paused, migrated-in domain's vTPMs for resume and unpause it",
            description = {
                "The receiving side of a migration: run 'xl migrate -p <domain> <host>' on the source (the destination"
                        + " domain stays paused), then on the destination 'vtpmback resume-domain <name>': sets"
                        + " resume = True on the domain's vtpm backends and runs 'xl unpause'. Also finishes a restore"
                        + " done with 'xl restore -p' by hand."})
    static final class ResumeDomain extends ConfiguredCommand {
        @Parameters(paramLabel = "<domid|name>", description = "the paused domain")
        String domain;

        @Override
        public Integer call() {
            return execute(ToolstackCommands::resumeDomain, List.of(domain), Map.of());
        }
    }
}
