package org.vtpmback.backend.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The jail's mount table as text: what one {@code mount -a} is given (SwtpmJailTest runs it). */
class JailMountsTest {
    @Test
    void everyCoverIsReadOnlyButTheOneAboveTheFolderWhichIsRemountedAfterTheBind() {
        JailMounts m = JailMounts.of(List.of(Path.of("/var/lib/v"), Path.of("/run/v")), Path.of("/run/v/instances/u"));
        List<String[]> lines = m.table().lines().map(l -> l.split(" ")).toList();
        assertEquals(3, lines.size(), m.table());
        String source = lines.get(0)[0];
        assertEquals(List.of(source, "/var/lib/v", "tmpfs", "ro,size=64k,mode=0755,nosuid,nodev,noexec", "0", "0"),
                List.of(lines.get(0)));
        assertEquals(List.of(source, "/run/v", "tmpfs", "size=64k,mode=0755,nosuid,nodev,noexec", "0", "0"),
                List.of(lines.get(1)));
        assertEquals(List.of("/proc/self/fd/3", "/run/v/instances/u", "none", "bind,nosuid,nodev,noexec,X-mount.mkdir",
                "0", "0"), List.of(lines.get(2)));
        assertEquals(Optional.of(Path.of("/run/v")), m.remountReadOnly());
    }

    @Test
    void eachTableHasASourceOfItsOwnSoMountNeverSkipsALineAsAlreadyMounted() {
        String a = JailMounts.of(List.of(Path.of("/tmp")), Path.of("/run/v/u")).table().split(" ")[0];
        String b = JailMounts.of(List.of(Path.of("/tmp")), Path.of("/run/v/u")).table().split(" ")[0];
        assertEquals(true, a.matches("vtpmback-jail-[0-9a-f]{16}"), a);
        assertNotEquals(a, b);
    }

    @Test
    void aFolderUnderNoCoverOrCoveredItselfNeedsNoWritableTmpfs() {
        assertEquals(Optional.empty(), JailMounts.of(List.of(Path.of("/tmp")), Path.of("/run/v/u")).remountReadOnly());
        JailMounts self = JailMounts.of(List.of(Path.of("/run/v/u")), Path.of("/run/v/u"));
        assertEquals(Optional.empty(), self.remountReadOnly());
        assertEquals(true, self.table().lines().findFirst().orElseThrow().contains(" tmpfs ro,"), self.table());
    }

    @Test
    void pathsAreEscapedAsFstabWantsThem() {
        assertEquals("/a\\040b\\011c\\012d\\134e", JailMounts.escape("/a b\tc\nd\\e"));
        assertEquals("/proc/self/fd/3 /run/a\\040b none", JailMounts.of(List.of(), Path.of("/run/a b")).table()
                .substring(0, "/proc/self/fd/3 /run/a\\040b none".length()));
    }
}
