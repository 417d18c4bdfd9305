using System.Buffers.Binary;
using System.Net;
using System.Text.Json.Nodes;

namespace GruService.Api.Tests;

public class HostileUploadTests
{
    [Fact]
    public async Task MutatedModelFiles_GetA4xxProblem_AndTheActiveVersionKeepsAnsweringExactlyAsBefore()
    {
        ReferenceModel model = ReferenceModel.Load(5);
        using var factory = new GruServiceFactory();
        HttpClient client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("target", model.File)).StatusCode);
        string request = HttpTestExtensions.Serialize(model.Inputs);
        string answer = await (await client.PostJsonAsync("/v1/models/target/classify", request)).Content.ReadAsStringAsync();

        // Mutations aimed at the header (lengths, offsets, dtypes, shapes, config) and its length prefix.
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(model.File);
        var random = new Random(12345);
        int rejected = 0;
        for (int i = 0; i < 150; i++)
        {
            byte[] file = (byte[])model.File.Clone();
            int position = random.Next(headerEnd);
            file[position] = (byte)random.Next(256);
            if (i % 10 == 0) file = file[..random.Next(file.Length)]; // and some truncations

            HttpResponseMessage response = await client.PutModelAsync("target", file);
            // 200: the "mutation" wrote the byte that was there, so the file is the active version's and nothing changed.
            Assert.True(response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.Created or HttpStatusCode.OK,
                $"mutation {i} at byte {position}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                Assert.Equal(answer, await (await client.PostJsonAsync("/v1/models/target/classify", request)).Content.ReadAsStringAsync());
                continue;
            }
            if (response.StatusCode == HttpStatusCode.Created)
            {
                // A change that kept the file valid (white space, a digit of a statistic) is a new version: restore ours.
                await client.PutModelAsync("target", model.File);
                answer = await (await client.PostJsonAsync("/v1/models/target/classify", request)).Content.ReadAsStringAsync();
                continue;
            }
            rejected++;
            Assert.Equal("invalid_model_file", (string?)(await response.JsonAsync())["reason"]);
            JsonObject served = await (await client.PostJsonAsync("/v1/models/target/classify", request)).JsonAsync();
            Assert.Equal(answer, served.ToJsonString());
        }
        Assert.True(rejected > 100, $"only {rejected} of 150 mutations were rejected");
    }
}
