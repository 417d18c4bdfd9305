using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace GruService.Api.Tests;

public static class TestModelFiles
{
    /// <summary>The same file with its metadata config replaced (the tensors and their offsets unchanged).</summary>
    public static byte[] WithConfig(byte[] file, string configJson)
    {
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        JsonObject header = JsonNode.Parse(Encoding.UTF8.GetString(file, 8, headerLength))!.AsObject();
        header["__metadata__"]!["config"] = configJson;
        byte[] newHeader = Encoding.UTF8.GetBytes(header.ToJsonString());
        var result = new byte[8 + newHeader.Length + file.Length - 8 - headerLength];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)newHeader.Length);
        newHeader.CopyTo(result, 8);
        file.AsSpan(8 + headerLength).CopyTo(result.AsSpan(8 + newHeader.Length));
        return result;
    }

    /// <summary>
    /// The same model as <paramref name="model"/> (weights, answers, task) in another file: its config with a
    /// "description", so its bytes and SHA-256 differ and an upload of it is a new version.
    /// </summary>
    public static byte[] Described(ReferenceModel model, string description)
    {
        JsonObject config = JsonNode.Parse(model.Config.GetRawText())!.AsObject();
        config["description"] = description;
        return WithConfig(model.File, config.ToJsonString());
    }
}
