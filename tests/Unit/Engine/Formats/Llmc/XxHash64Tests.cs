using System.Text;
using LlmCpu.Engine.Formats.Llmc;

namespace LlmCpu.Tests.Engine.Formats.Llmc;

public sealed class XxHash64Tests
{
    [Theory]
    [InlineData("", 0xEF46DB3751D8E999UL)]
    [InlineData("a", 0xD24EC4F1A98C6E5BUL)]
    [InlineData("abc", 0x44BC2CF5AD770999UL)]
    [InlineData("Nobody inspects the spammish repetition", 0xFBCEA83C8A378BF1UL)]
    public void MatchesTheSpecificationVectors(string text, ulong expected) =>
        Assert.Equal(expected, XxHash64.Hash(Encoding.ASCII.GetBytes(text)));

    [Fact]
    public void IncrementalEqualsOneShotForAnySplit()
    {
        var data = Enumerable.Range(0, 1000).Select(i => (byte)(i * 31 + 7)).ToArray();
        ulong expected = XxHash64.Hash(data);
        foreach (int split in new[] { 1, 7, 31, 32, 33, 64, 999 })
        {
            var hasher = new XxHash64();
            for (int i = 0; i < data.Length; i += split) hasher.Append(data.AsSpan(i, Math.Min(split, data.Length - i)));
            Assert.Equal(expected, hasher.Digest());
        }
    }
}
