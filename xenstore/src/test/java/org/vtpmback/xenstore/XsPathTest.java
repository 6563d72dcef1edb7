package org.vtpmback.xenstore;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class XsPathTest {
    @Test
    void buildsBackendPathsFromElements() {
        XsPath p = XsPath.of("/local/domain/0/backend/vtpm").child(7).child("0");
        assertEquals("/local/domain/0/backend/vtpm/7/0", p.value());
        assertEquals("0", p.name());
        assertEquals(XsPath.of("/local/domain/0/backend/vtpm/7"), p.parent());
        assertEquals("/a", XsPath.ROOT.child("a").value());
    }

    @Test
    void relativizesAndContains() {
        XsPath base = XsPath.of("/local/domain/0/backend/vtpm");
        XsPath dev = XsPath.of("/local/domain/0/backend/vtpm/7/0/state");
        assertTrue(base.contains(dev));
        assertEquals("7/0/state", base.relativize(dev));
        assertEquals("", base.relativize(base));
        assertFalse(base.contains(XsPath.of("/local/domain/0/backend/vtpmx")));
        assertThrows(IllegalArgumentException.class, () -> dev.relativize(base));
    }

    @Test
    void acceptsSpecialWatchPaths() {
        assertTrue(XsPath.of("@releaseDomain").isSpecial());
        assertEquals(XsPath.RELEASE_DOMAIN, XsPath.of("@releaseDomain"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "relative", "/a//b", "/a/", "/a b", "/a/\u00e9", "@other", "/a/b\n"})
    void rejectsMalformedPaths(String bad) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> XsPath.of(bad));
        assertTrue(e.getMessage().contains("not a valid"), e.getMessage());
    }

    @Test
    void rejectsOverlongPathsAndBadElements() {
        assertThrows(IllegalArgumentException.class, () -> XsPath.of("/" + "a".repeat(XsPath.MAX_LENGTH)));
        assertThrows(IllegalArgumentException.class, () -> XsPath.ROOT.child("a/b"));
        assertThrows(IllegalArgumentException.class, () -> XsPath.ROOT.child(".."));
    }
}
