// History `created_by` text as docker's BuildKit writes it (recorded in testdata/differential),
// and EXPOSE port specs expanded as nat.ParsePortSpecs does.
#include <gtest/gtest.h>

#include "frontend/history.hpp"
#include "frontend/stages.hpp"
#include "sys/error.hpp"

using namespace frontend;

namespace {
Instruction first(const std::string& line) {
    auto ast = parse_buildfile("FROM x\n" + line + "\n", "Buildfile");
    return ast.stages.at(0).instructions.at(0);
}
// The solver hands the history writer expanded instructions (quotes removed), as BuildKit does.
std::string text(const std::string& line, HistoryState st = {}) {
    ShellLex lex;
    return buildkit_created_by(expand(first(line), lex, {}), st);
}
}  // namespace

TEST(BuildkitHistory, RunListsArgsInScope) {
    HistoryState st;
    EXPECT_EQ(text("RUN echo \"$A\" > /a", st), "RUN /bin/sh -c echo \"$A\" > /a # buildkit");
    st.run_args = {{"A", "1"}, {"B", ""}};
    EXPECT_EQ(text("RUN echo hi", st), "RUN |2 A=1 B= /bin/sh -c echo hi # buildkit");
    EXPECT_EQ(text("RUN [\"/bin/echo\", \"x\"]", st), "RUN |2 A=1 B= /bin/echo x # buildkit");
    st.shell = {"/bin/sh", "-ec"};
    st.run_args.clear();
    EXPECT_EQ(text("RUN true", st), "RUN /bin/sh -ec true # buildkit");
}

TEST(BuildkitHistory, CopyDropsFlags) {
    EXPECT_EQ(text("COPY --chown=app:app --from=b a  b   /dst/"), "COPY a b /dst/ # buildkit");
    EXPECT_EQ(text("ADD --chmod=0600 x.tar /x"), "ADD x.tar /x # buildkit");
}

TEST(BuildkitHistory, MetadataAsGoFormatsIt) {
    EXPECT_EQ(text("CMD world"), "CMD [\"/bin/sh\" \"-c\" \"world\"]");
    EXPECT_EQ(text("ENTRYPOINT [\"/bin/echo\", \"a \\\"q\\\"\"]"), "ENTRYPOINT [\"/bin/echo\" \"a \\\"q\\\"\"]");
    EXPECT_EQ(text("SHELL [\"/bin/sh\", \"-ec\"]"), "SHELL [/bin/sh -ec]");
    EXPECT_EQ(text("VOLUME /c /d"), "VOLUME [/c /d]");
    EXPECT_EQ(text("EXPOSE 80 443/tcp 53/udp"), "EXPOSE map[443/tcp:{} 53/udp:{} 80/tcp:{}]");
    EXPECT_EQ(text("EXPOSE 7000-7002/TCP"), "EXPOSE map[7000/tcp:{} 7001/tcp:{} 7002/tcp:{}]");
    EXPECT_EQ(text("LABEL a=b \"c d\"=\"e f\""), "LABEL a=b c d=e f");
    EXPECT_EQ(text("ENV A=1 B=\"x y\""), "ENV A=1 B=x y");
    EXPECT_EQ(text("ARG A=1 B"), "ARG A=1 B");
    EXPECT_EQ(text("ONBUILD RUN x"), "");
    EXPECT_EQ(text("HEALTHCHECK --interval=5s --timeout=3s --start-period=1s --retries=2 CMD true"),
              "HEALTHCHECK &{[\"CMD-SHELL\" \"true\"] \"5s\" \"3s\" \"1s\" '\\x02'}");
    EXPECT_EQ(text("HEALTHCHECK NONE"), "HEALTHCHECK &{[\"NONE\"] \"0s\" \"0s\" \"0s\" '\\x00'}");
    HistoryState st;
    st.workdir = "/a/b";
    EXPECT_EQ(text("WORKDIR b", st), "WORKDIR /a/b");
}

TEST(BuildkitHistory, GoDuration) {
    EXPECT_EQ(go_duration(0), "0s");
    EXPECT_EQ(go_duration(1500000000), "1.5s");
    EXPECT_EQ(go_duration(90000000000), "1m30s");
    EXPECT_EQ(go_duration(3600000000000), "1h0m0s");
    EXPECT_EQ(go_duration(500000000), "500ms");
    EXPECT_EQ(go_duration(1500), "1.5\xC2\xB5s");
    EXPECT_EQ(go_duration(7), "7ns");
}

TEST(ExposePorts, RangesAndProtocols) {
    EXPECT_EQ(expose_ports({"80", "53/UDP", "7000-7002/tcp", "9/sctp"}),
              (std::vector<std::string>{"80/tcp", "53/udp", "7000/tcp", "7001/tcp", "7002/tcp", "9/sctp"}));
    EXPECT_THROW(expose_ports({"70000"}), sys::Error);
    EXPECT_THROW(expose_ports({"9-7"}), sys::Error);
    EXPECT_THROW(expose_ports({"80/icmp"}), sys::Error);
    EXPECT_THROW(expose_ports({"abc"}), sys::Error);
}
