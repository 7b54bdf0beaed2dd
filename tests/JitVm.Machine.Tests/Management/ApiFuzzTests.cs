using System.Text;
using System.Text.Json.Nodes;
using JitVm.Machine.Management;
using Xunit.Abstractions;

namespace JitVm.Machine.Tests.Management;

/// <summary>
/// Hostile input to the JSON API: over ten thousand malformed requests (bytes, broken JSON, wrong shapes, unknown
/// commands, wrong argument types, deep nesting, bad UTF-8, oversized lines) on one connection to a running VM. Each
/// gets exactly one error reply (with its id when it had a readable one), the connection stays open, the VM keeps
/// running, and the server answers a proper request afterwards.
/// </summary>
public class ApiFuzzTests(ITestOutputHelper output)
{
    const int Requests = 10_400;

    static readonly string[] Commands =
    [
        "query-status", "stop", "cont", "step", "query-registers", "query-jit", "query-tlb", "query-devices", "query-block",
        "read-memory", "send-key", "screendump", "savevm", "loadvm", "delvm", "query-snapshots", "system_reset", "quit",
        "human-monitor-command", "query-vms", "query-version", "query-commands", "server-quit",
    ];

    /// <summary>A malformed request (one line, no '\n'), and whether its reply must carry the id 'expectId'.</summary>
    static (byte[] Line, long? Id) Malformed(Random r, int i)
    {
        long id = 1_000_000 + i;
        switch (i % 16)
        {
            case 0:
            {
                // Random bytes that are not all blank.
                var b = new byte[r.Next(1, 80)];
                r.NextBytes(b);
                for (int k = 0; k < b.Length; k++) if (b[k] == (byte)'\n') b[k] = (byte)'{';
                b[0] = (byte)r.Next(0x21, 0x7F);
                if (b[0] is (byte)'{' or (byte)'[' or (byte)'"' or (byte)'-' || char.IsAsciiDigit((char)b[0]) || b[0] is (byte)'t' or (byte)'f' or (byte)'n') b[0] = (byte)'#';
                return (b, null);
            }
            case 1:
            {
                // A valid request cut short.
                string full = $"{{\"execute\":\"query-status\",\"arguments\":{{\"vm\":\"fuzz\"}},\"id\":{id}}}";
                return (Encoding.UTF8.GetBytes(full[..r.Next(1, full.Length - 1)]), null);
            }
            case 2:
            {
                string[] values = ["0", "-1.5e300", "[]", "[1,2,3]", "\"execute\"", "null", "true", "false", "1e99999", "\"\\u0000\""];
                return (Encoding.UTF8.GetBytes(values[r.Next(values.Length)]), null);
            }
            case 3:
                return (Encoding.UTF8.GetBytes($"{{\"id\":{id}}}"), id);
            case 4:
            {
                string[] bad = ["1", "null", "[\"stop\"]", "{\"a\":1}", "true"];
                return (Encoding.UTF8.GetBytes($"{{\"execute\":{bad[r.Next(bad.Length)]},\"id\":{id}}}"), id);
            }
            case 5:
            {
                string[] bad = ["1", "\"x\"", "[]", "null", "true"];
                return (Encoding.UTF8.GetBytes($"{{\"execute\":\"query-status\",\"arguments\":{bad[r.Next(bad.Length)]},\"id\":{id}}}"), id);
            }
            case 6:
                return (Encoding.UTF8.GetBytes($"{{\"execute\":\"query-status\",\"id\":{id},\"extra{r.Next(100)}\":1}}"), id);
            case 7:
            {
                var name = new StringBuilder();
                for (int k = r.Next(1, 30); k > 0; k--) name.Append((char)r.Next('a', 'z' + 1));
                return (Encoding.UTF8.GetBytes($"{{\"execute\":\"x-{name}\",\"id\":{id}}}"), id);
            }
            case 8:
            {
                // A known command with an argument it does not take.
                string cmd = Commands[r.Next(Commands.Length)];
                return (Encoding.UTF8.GetBytes($"{{\"execute\":\"{cmd}\",\"arguments\":{{\"bogus{r.Next(1000)}\":{r.Next()}}},\"id\":{id}}}"), id);
            }
            case 9:
            {
                // Wrong argument types.
                string[] forms =
                [
                    "\"step\",\"arguments\":{\"count\":\"three\"}", "\"step\",\"arguments\":{\"count\":1.5}", "\"step\",\"arguments\":{\"count\":[1]}",
                    "\"read-memory\",\"arguments\":{\"address\":\"0\",\"size\":4}", "\"read-memory\",\"arguments\":{\"address\":0,\"size\":true}",
                    "\"read-memory\",\"arguments\":{\"address\":0,\"size\":4,\"physical\":\"yes\"}", "\"read-memory\",\"arguments\":{\"address\":0}",
                    "\"send-key\",\"arguments\":{\"keys\":\"ctrl\"}", "\"send-key\",\"arguments\":{\"keys\":[]}", "\"send-key\",\"arguments\":{\"keys\":[\"nokey\"]}",
                    "\"send-key\",\"arguments\":{\"keys\":[{\"type\":\"qcode\",\"data\":7}]}", "\"screendump\",\"arguments\":{\"filename\":5}",
                    "\"screendump\",\"arguments\":{}", "\"savevm\",\"arguments\":{\"tag\":null}", "\"loadvm\",\"arguments\":{\"tag\":\"never-saved\"}",
                    "\"query-status\",\"arguments\":{\"vm\":5}", "\"query-status\",\"arguments\":{\"vm\":\"nonexistent\"}",
                    "\"human-monitor-command\",\"arguments\":{\"command-line\":42}", "\"human-monitor-command\",\"arguments\":{}",
                    "\"delvm\",\"arguments\":{\"tag\":\"none\"}", "\"read-memory\",\"arguments\":{\"address\":-1,\"size\":4}",
                    "\"read-memory\",\"arguments\":{\"address\":0,\"size\":100000000}", "\"step\",\"arguments\":{\"count\":99999999999}",
                ];
                return (Encoding.UTF8.GetBytes($"{{\"execute\":{forms[r.Next(forms.Length)]},\"id\":{id}}}"), id);
            }
            case 10:
            {
                int depth = r.Next(65, 2000);
                return (Encoding.UTF8.GetBytes(new string('[', depth) + new string(']', depth)), null);
            }
            case 11:
            {
                // Invalid UTF-8 inside a string.
                var head = Encoding.UTF8.GetBytes("{\"execute\":\"query-st");
                byte[] bad = [0xC3, 0x28, 0xFF, 0xFE, 0xED, 0xA0, 0x80];
                var tail = Encoding.UTF8.GetBytes($"atus\",\"id\":{id}}}");
                return ([.. head, bad[r.Next(bad.Length)], .. tail], null);
            }
            case 12:
                return (Encoding.UTF8.GetBytes($"{{\"execute\":\"query-status\",\"execute\":\"stop\",\"id\":{id}}}"), null);
            case 13:
                return (Encoding.UTF8.GetBytes($"{{\"execute\":\"step\",\"arguments\":{{\"count\":1{new string('0', r.Next(20, 400))}}},\"id\":{id}}}"), id);
            case 14:
                return (Encoding.UTF8.GetBytes($"{{\"execute\":\"qmp_capabilities\",\"id\":{id}}}"), id);       // already negotiated
            default:
            {
                // An otherwise fine request with a trailing value or garbage after it.
                string[] tails = [" {}", "}", " x", ",", " \"a\""];
                return (Encoding.UTF8.GetBytes($"{{\"execute\":\"query-status\",\"id\":{id}}}{tails[r.Next(tails.Length)]}"), null);
            }
        }
    }

    [Fact]
    public void TenThousandMalformedRequestsEachGetAnErrorReplyAndNothingBreaks()
    {
        var vm = new VmInstance("fuzz", TestGuests.MachineFor(TestGuests.Counter(out _)));
        using var host = TestGuests.Host(vm);
        string path = Path.Combine(Path.GetTempPath(), $"jitvm-fuzz-{Guid.NewGuid():N}.sock");
        using var server = ManagementServer.Start(host, new ManagementEndpoints { QmpUnixPath = path });
        vm.Start();
        using var c = QmpClient.ConnectUnix(path);
        var r = new Random(20260109);
        int errors = 0, withId = 0;
        var classes = new Dictionary<string, int>();

        // Before the handshake every request is refused too.
        for (int i = 0; i < 200; i++)
        {
            var (line, _) = Malformed(r, i % 16 == 14 ? i + 1 : i);      // (not the handshake itself)
            c.SendRawBytes([.. line, (byte)'\n']);
            var reply = c.ReadReply();
            Assert.True(reply.ContainsKey("error"), $"request {i} got {reply.ToJsonString()}");
            errors++;
        }
        c.Ok("qmp_capabilities");

        // Pipelined in batches: send 100, then read 100 replies in order.
        const int batch = 100;
        for (int start = 200; start < Requests; start += batch)
        {
            var expected = new List<(long? Id, string Sent)>();
            var buffer = new MemoryStream();
            for (int i = start; i < Math.Min(start + batch, Requests); i++)
            {
                var (line, id) = Malformed(r, i);
                buffer.Write(line);
                buffer.WriteByte((byte)'\n');
                expected.Add((id, Encoding.UTF8.GetString(line)));
            }
            c.SendRawBytes(buffer.ToArray());
            foreach (var (id, sent) in expected)
            {
                var reply = c.ReadReply();
                Assert.True(reply.ContainsKey("error"), $"'{sent}' got {reply.ToJsonString()}");
                string cls = (string)reply["error"]!["class"]!;
                Assert.False(string.IsNullOrEmpty((string?)reply["error"]!["desc"]));
                classes[cls] = classes.GetValueOrDefault(cls) + 1;
                if (id is { } want)
                {
                    Assert.Equal(want, (long)reply["id"]!);
                    withId++;
                }
                errors++;
            }
        }

        // A line over the limit: one error, then the connection still works.
        c.SendRawBytes([.. Encoding.ASCII.GetBytes("{\"execute\":\"" + new string('a', QmpSession.MaxLineBytes + 10) + "\"}"), (byte)'\n']);
        Assert.Contains("longer than", (string)c.ReadReply()["error"]!["desc"]!);
        errors++;
        Assert.Equal("running", (string)c.Ok("query-status")["status"]!);
        Assert.Equal(VmStatus.Running, vm.Status);

        // A second client is served as usual.
        using var other = QmpClient.ConnectUnix(path);
        other.Ok("qmp_capabilities");
        Assert.Equal("fuzz", (string)other.Ok("query-vms")[0]!["vm"]!);

        output.WriteLine($"{errors} malformed requests, {errors} error replies ({withId} with their id); classes: " +
                         string.Join(", ", classes.Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.True(errors >= 10_000);
    }

    [Fact]
    public void RandomMonitorLinesNeverThrow()
    {
        var vm = new VmInstance("hmp", TestGuests.MachineFor(TestGuests.Counter(out _)));
        using var host = TestGuests.Host(vm);
        vm.Start(paused: true);
        var monitor = new MonitorInterpreter(host);
        var r = new Random(7);
        string[] words = ["info", "x", "xp", "/", "/4xb", "/3i", "/99999x", "/0x", "$eip", "$nope", "0x", "0xFFFFFFFF", "-", "+", "sendkey", "ctrl-", "-alt",
            "registers", "tlb", "jit", "devices", "block", "status", "vm", "step", "0", "-5", "99999999999", "savevm", "loadvm", "delvm", "zzz", "\t", "1+", "$eax+0x10"];
        int lines = 0;
        for (int i = 0; i < 3000; i++)
        {
            var sb = new StringBuilder();
            for (int k = r.Next(1, 5); k > 0; k--) sb.Append(words[r.Next(words.Length)]).Append(r.Next(3) == 0 ? "" : " ");
            string text = monitor.Execute(sb.ToString());
            Assert.NotNull(text);
            lines++;
        }
        Assert.Equal(3000, lines);
        Assert.Equal(VmStatus.Paused, vm.Status);
        Assert.StartsWith("VM status: paused", monitor.Execute("info status"));
    }
}
